"""SQLModel tables, one module per aggregate. Import from here so every table is registered."""

from crm.models.base import NAMING_CONVENTION, utcnow, uuid7
from crm.models.contact import (
    CONTACT_FIELDS,
    MAX_MERGE_CHAIN,
    Contact,
    ContactEvent,
    ContactIdentifier,
)
from crm.models.dedup_run import DedupRun
from crm.models.import_job import ImportFile, ImportJob, ImportRowError
from crm.models.merge import DuplicateCandidate, Merge
from crm.models.organization import ApiKey, Organization
from crm.models.outbound import WebhookAttempt, WebhookOutbox, WebhookSubscription
from crm.models.pet import PET_FIELDS, Pet, PetVersion
from crm.models.pms import (
    PmsAppointment,
    PmsAppointmentType,
    PmsConnection,
    PmsPractitioner,
    PmsSyncRun,
)
from crm.models.retraction import IdentifierRetraction
from crm.models.source_record import SourceRecord
from crm.models.webhooks import (
    Message,
    Order,
    Prescription,
    Subscription,
    WebhookDelivery,
    WebhookEndpoint,
)

__all__ = [
    "CONTACT_FIELDS",
    "MAX_MERGE_CHAIN",
    "NAMING_CONVENTION",
    "PET_FIELDS",
    "ApiKey",
    "Contact",
    "ContactEvent",
    "ContactIdentifier",
    "DedupRun",
    "DuplicateCandidate",
    "IdentifierRetraction",
    "ImportFile",
    "ImportJob",
    "ImportRowError",
    "Merge",
    "Message",
    "Order",
    "Organization",
    "Pet",
    "PetVersion",
    "PmsAppointment",
    "PmsAppointmentType",
    "PmsConnection",
    "PmsPractitioner",
    "PmsSyncRun",
    "Prescription",
    "SourceRecord",
    "Subscription",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookOutbox",
    "WebhookSubscription",
    "utcnow",
    "uuid7",
]
