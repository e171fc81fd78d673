"""Normalisation of identifiers and personal data into comparable, storable keys."""

from crm.identity.channels import (
    HANDLE_CHANNELS,
    NAMESPACES,
    PHONE_CHANNELS,
    PMS_NAMESPACES,
    SHARED_NAMESPACES,
    Channel,
    IdentityKey,
    channel_for_namespace,
    namespace_for,
    parse_channel,
)
from crm.identity.dates import normalize_date_of_birth
from crm.identity.email import normalize_email
from crm.identity.errors import ErrorCode, IdentityError
from crm.identity.external_ids import normalize_external_id
from crm.identity.first_names import (
    feminine_form,
    first_name_similarity,
    first_names_agree,
    first_names_compatible,
)
from crm.identity.handles import normalize_handle
from crm.identity.keys import normalize_identifier
from crm.identity.names import clean_name, name_key, split_full_name
from crm.identity.phone import normalize_phone
from crm.identity.regions import normalize_region

__all__ = [
    "HANDLE_CHANNELS",
    "NAMESPACES",
    "PHONE_CHANNELS",
    "PMS_NAMESPACES",
    "SHARED_NAMESPACES",
    "Channel",
    "ErrorCode",
    "IdentityError",
    "IdentityKey",
    "channel_for_namespace",
    "clean_name",
    "feminine_form",
    "first_name_similarity",
    "first_names_agree",
    "first_names_compatible",
    "name_key",
    "namespace_for",
    "normalize_date_of_birth",
    "normalize_email",
    "normalize_external_id",
    "normalize_handle",
    "normalize_identifier",
    "normalize_phone",
    "normalize_region",
    "parse_channel",
    "split_full_name",
]
