"""Who an observation belongs to, by its exact identity keys (part of ``plan``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date

from crm.identity import PMS_NAMESPACES, SHARED_NAMESPACES, first_names_agree, name_key
from crm.ingest.observation import Observation
from crm.ingest.snapshot import Key, Person

# exclusive keys in the order they decide the owner: the source's own record id, PMS patient
# ids, EMR ids, social handles, chat ids (a PMS id outweighs an Instagram handle)
_EXCLUSIVE_RANK = {
    "external": 0,
    **dict.fromkeys(PMS_NAMESPACES, 1),
    "careportals": 2,
    "instagram": 3,
    "facebook": 3,
    "chatwoot": 4,
}


def dates_compatible(a: date | None, b: date | None) -> bool:
    if a is None or b is None or a == b:
        return True
    # a day/month transposition is the same birthday written the other way round
    return a.year == b.year and a.month == b.day and a.day == b.month


def compatible(obs: Observation, person: Person | None) -> bool:
    # The link cannot be undone, so only a sure first name links a shared email or phone:
    # equal, a nickname or an initial (Paul/Paula, Jonh/John become two contacts, for the
    # sweep to propose and merge reversibly). docs/survivorship.md
    if person is None:
        return True
    return first_names_agree(obs.first_name, person.first_name) and dates_compatible(
        obs.date_of_birth, person.date_of_birth
    )


def _same_name(obs: Observation, person: Person | None) -> bool:
    key = name_key(obs.first_name)
    return bool(key) and person is not None and name_key(person.first_name) == key


def find_owner(
    obs: Observation,
    holders: Mapping[Key, list[tuple[int, uuid.UUID]]],
    people: Mapping[uuid.UUID, Person],
) -> uuid.UUID | None:
    """The contact holding the observation's best exclusive key; else among the holders of
    its shared keys (email, phone) whose name and birthday fit, the one matching most."""
    exclusive = [key for key in obs.keys if key.namespace not in SHARED_NAMESPACES]
    for key in sorted(exclusive, key=lambda k: _EXCLUSIVE_RANK.get(k.namespace, 5)):
        if held := holders.get(key.identity):
            return held[0][1]
    score: dict[uuid.UUID, tuple[int, int]] = {}
    for key in obs.keys:
        if key.namespace not in SHARED_NAMESPACES:
            continue
        for ordinal, contact_id in holders.get(key.identity, ()):
            if not compatible(obs, people.get(contact_id)):
                continue
            matched, best_ordinal = score.get(contact_id, (0, ordinal))
            score[contact_id] = (matched + 1, min(best_ordinal, ordinal))
    if not score:
        return None
    # among household members that fit, the one with this very first name before one
    # it is a nickname or an initial of ("William" finds William, not his father Bill)
    same = {cid for cid in score if len(score) > 1 and _same_name(obs, people.get(cid))}
    return min(score, key=lambda cid: (-score[cid][0], cid not in same, score[cid][1], cid))
