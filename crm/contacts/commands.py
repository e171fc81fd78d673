"""Changing contacts one at a time. Each command is the pipeline with n = 1."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from crm.contacts.queries import get_contact
from crm.contacts.unlink import unlink
from crm.errors import ErrorCode, NotFound, ServiceError
from crm.identity import Channel
from crm.ingest import (
    CREATED,
    REJECTED,
    FieldIssue,
    Observation,
    Outcome,
    Rejected,
    build_observation,
    ingest,
)
from crm.ingest.priorities import MANUAL_SOURCE
from crm.models import Contact, Organization, uuid7
from crm.tenancy.sources import lookup_source


class ValidationFailed(ServiceError):
    """Several values were invalid; ``errors`` has one ServiceError per value."""

    def __init__(self, errors: list[ServiceError]):
        super().__init__(errors[0].code, errors[0].message, field=errors[0].field)
        self.errors = errors


def _parse_channel(channel: Channel | str) -> Channel:
    if isinstance(channel, Channel):
        return channel
    try:
        return Channel(str(channel).upper())
    except ValueError:
        raise ServiceError(
            ErrorCode.UNSUPPORTED_CHANNEL, f"unknown channel {channel!r}", field="channel"
        ) from None


def _observe(
    organization: Organization,
    raw: Mapping[str, Any],
    *,
    source: str,
    source_id: str | None = None,
    contact_id: uuid.UUID | None = None,
    keys: list[tuple[Channel, str]] | None = None,
    key_fields: bool = True,
) -> Observation:
    """Build the observation, turning any invalid value into a ValidationFailed."""
    try:
        obs = build_observation(
            dict(raw),
            source=source,
            region=organization.default_region,
            extra_keys=keys,
            contact_id=contact_id,
            source_id=source_id,
            key_fields=key_fields,
        )
    except Rejected as exc:
        raise ValidationFailed(
            [ServiceError(i.code, i.message, field=i.field) for i in exc.issues]
        ) from None
    if obs.issues:
        raise ValidationFailed([ServiceError(i.code, i.message, field=i.field) for i in obs.issues])
    return obs


def _manual_id() -> str:
    return f"edit:{uuid7()}"


def _active(session: Session, organization: Organization, contact_id: Any) -> Contact:
    contact = get_contact(session, organization_id=organization.id, contact_id=contact_id)
    if contact is None:
        raise NotFound("contact", field="id")
    if contact.status != "active":
        raise ServiceError(ErrorCode.NOT_ACTIVE, f"contact is {contact.status}", field="id")
    return contact


def _named(session: Session, organization: Organization, contact_id: Any) -> Contact:
    """The contact a write names, whatever its status: the pipeline follows a merged one to
    its survivor and refuses an erased one (``_written``), deciding on what it writes with."""
    contact = get_contact(session, organization_id=organization.id, contact_id=contact_id)
    if contact is None:
        raise NotFound("contact", field="id")
    return contact


def _written(outcome: Outcome) -> uuid.UUID:
    """The contact a write naming its contact went to, or the coded reason it was refused."""
    if outcome.outcome == REJECTED or outcome.contact_id is None:
        issue = next(
            (i for i in outcome.issues if i.field == "contact_id"),
            FieldIssue("NOT_ACTIVE", "contact_id", "contact is not active"),
        )
        raise ServiceError(issue.code, issue.message, field="id")
    return outcome.contact_id


def _reload(session: Session, contact_id: uuid.UUID) -> Contact:
    contact = session.get(Contact, contact_id)
    assert contact is not None
    session.refresh(contact)
    return contact


def create_contact(
    session: Session, *, organization: Organization, data: Mapping[str, Any], actor: str | None
) -> Contact:
    """Create a contact entered by a person; refuses one that an identifier says exists."""
    obs = _observe(organization, data, source=MANUAL_SOURCE, source_id=_manual_id())
    with session.begin_nested():
        outcome = ingest(session, organization=organization, observations=[obs], actor=actor)[0]
        if outcome.outcome != CREATED:
            raise ServiceError(
                ErrorCode.DUPLICATE_CONTACT,
                f"contact {outcome.contact_id} already has this email or phone",
                field="email" if "email" in obs.fields else "phone",
            )
    return _reload(session, outcome.contact_id)


def update_contact(
    session: Session,
    *,
    organization: Organization,
    contact_id: Any,
    version: int | None,
    data: Mapping[str, Any],
    actor: str | None,
) -> Contact:
    """A manual edit: it holds until a newer observation from a higher-priority source.

    A merged contact's edit goes to its survivor; an erased contact's is NOT_ACTIVE. With
    ``version``, the contact read must still be live at that version (else VERSION_CONFLICT).
    """
    contact = _named(session, organization, contact_id)
    if version is not None:
        # lock the row: a concurrent edit of the same version waits, then sees it is stale
        # (the pipeline would otherwise retry past the version change and lose an update)
        current, status, merged_into = session.execute(
            select(Contact.version, Contact.status, Contact.merged_into_id)
            .where(Contact.id == contact.id)
            .with_for_update()
        ).one()
        if status == "erased":
            raise ServiceError(ErrorCode.NOT_ACTIVE, "contact is erased", field="id")
        if status != "active":
            raise ServiceError(
                ErrorCode.VERSION_CONFLICT,
                f"contact was merged into contact {merged_into}: reload and retry",
                field="version",
            )
        if current != version:
            raise ServiceError(
                ErrorCode.VERSION_CONFLICT,
                f"contact is at version {current}, not {version}: reload and retry",
                field="version",
            )
    if not any(v not in (None, "") for v in data.values()):
        raise ServiceError(ErrorCode.INVALID_INPUT, "nothing to update", field=None)
    obs = _observe(
        organization, data, source=MANUAL_SOURCE, source_id=_manual_id(), contact_id=contact.id
    )
    outcome = ingest(session, organization=organization, observations=[obs], actor=actor)[0]
    return _reload(session, _written(outcome))


def resolve_contact(
    session: Session,
    *,
    organization: Organization,
    channel: Channel | str,
    value: str,
    data: Mapping[str, Any] | None = None,
    source: str | None = None,
    actor: str | None = None,
    allowed_sources: Sequence[str] | None = None,
) -> tuple[Contact, bool]:
    """Find the contact behind a channel identifier, creating it when it is new.

    ``allowed_sources``: the names the calling API key may write as (None: an in-process
    caller naming its own source); ``source`` must be one of them and is never ``manual``.
    """
    channel = _parse_channel(channel)
    source = lookup_source(source, channel=channel.value.lower(), allowed=allowed_sources)
    obs = _observe(organization, data or {}, source=source, keys=[(channel, value)])
    outcome = ingest(session, organization=organization, observations=[obs], actor=actor)[0]
    contact = session.get(Contact, outcome.contact_id)
    assert contact is not None
    if outcome.outcome != CREATED:
        session.refresh(contact)
    return contact, outcome.outcome == CREATED


def link_identifier(
    session: Session,
    *,
    organization: Organization,
    contact_id: Any,
    channel: Channel | str,
    value: str,
    actor: str | None,
) -> Contact:
    """Attach a channel identifier to a contact (exclusive ones must be free); a merged
    contact's goes to its survivor, an erased contact's is NOT_ACTIVE."""
    channel = _parse_channel(channel)
    contact = _named(session, organization, contact_id)
    obs = _observe(
        organization,
        {},
        source=MANUAL_SOURCE,
        source_id=_manual_id(),
        contact_id=contact.id,
        keys=[(channel, value)],
        key_fields=False,
    )
    with session.begin_nested():
        outcome = ingest(session, organization=organization, observations=[obs], actor=actor)[0]
        for issue in outcome.issues:
            if issue.code == "IDENTIFIER_CONFLICT":
                raise ServiceError(
                    ErrorCode.IDENTIFIER_CONFLICT,
                    f"this {channel.value} identifier belongs to another contact",
                    field="value",
                )
        written = _written(outcome)
    return _reload(session, written)


def unlink_identifier(
    session: Session,
    *,
    organization: Organization,
    contact_id: Any,
    channel: Channel | str,
    value: str,
    actor: str | None,
) -> Contact:
    """Detach a channel identifier from a contact: its fields are recomputed without it, the
    next holder becomes primary, and only new data from a source brings it back (a merged
    contact's goes to its survivor; an erased contact's is NOT_ACTIVE)."""
    channel = _parse_channel(channel)
    written = unlink(
        session,
        organization=organization,
        contact_id=contact_id,
        channel=channel,
        value=value,
        actor=actor,
    )
    return _reload(session, written)
