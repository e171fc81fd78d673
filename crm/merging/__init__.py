"""Merge / unmerge with survivorship and history, and the duplicate review queue."""

from crm.merging.merge import GroupsOutcome, MergeGroup, MergeOutcome
from crm.merging.queue import get_candidate, list_candidates
from crm.merging.service import (
    dismiss_candidate,
    merge_contact_groups,
    merge_contacts,
    merge_contacts_with_history,
    unmerge_contact,
    unmerge_contact_with_survivor,
)
from crm.merging.unmerge import UnmergeOutcome

__all__ = [
    "GroupsOutcome",
    "MergeGroup",
    "MergeOutcome",
    "UnmergeOutcome",
    "dismiss_candidate",
    "get_candidate",
    "list_candidates",
    "merge_contact_groups",
    "merge_contacts",
    "merge_contacts_with_history",
    "unmerge_contact",
    "unmerge_contact_with_survivor",
]
