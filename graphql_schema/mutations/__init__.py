"""Root mutations: one module per mutation, each field here one line. Every resolver runs off
the event loop (``base.mutation``)."""

from __future__ import annotations

import strawberry

from graphql_schema.mutations import api_keys as api_keys_m
from graphql_schema.mutations import contact_context as context_m
from graphql_schema.mutations import create_contact as create_m
from graphql_schema.mutations import dismiss_duplicate as dismiss_m
from graphql_schema.mutations import erase_contact as erase_m
from graphql_schema.mutations import identifiers as identifiers_m
from graphql_schema.mutations import import_contacts as import_m
from graphql_schema.mutations import merge_contacts as merge_m
from graphql_schema.mutations import pets as pets_m
from graphql_schema.mutations import resolve_contact as resolve_m
from graphql_schema.mutations import run_dedup_sweep as sweep_m
from graphql_schema.mutations import set_dedup_settings as dedup_settings_m
from graphql_schema.mutations import unmerge_contact as unmerge_m
from graphql_schema.mutations import update_contact as update_m
from graphql_schema.mutations import webhook_endpoints as endpoints_m
from graphql_schema.mutations import webhook_subscriptions as subscriptions_m
from graphql_schema.mutations import webhooks as webhooks_m
from graphql_schema.mutations.api_keys import CreateApiKeyPayload, RevokeApiKeyPayload
from graphql_schema.mutations.base import mutation
from graphql_schema.mutations.contact_context import ContactContextPayload
from graphql_schema.mutations.create_contact import CreateContactPayload
from graphql_schema.mutations.dismiss_duplicate import DismissDuplicatePayload
from graphql_schema.mutations.erase_contact import EraseContactPayload
from graphql_schema.mutations.identifiers import LinkIdentifierPayload, UnlinkIdentifierPayload
from graphql_schema.mutations.import_contacts import ImportContactsPayload
from graphql_schema.mutations.merge_contacts import MergeContactsPayload
from graphql_schema.mutations.pets import CreatePetPayload, UpdatePetPayload
from graphql_schema.mutations.pms import PmsMutation
from graphql_schema.mutations.resolve_contact import ResolveContactPayload
from graphql_schema.mutations.run_dedup_sweep import RunDedupSweepPayload
from graphql_schema.mutations.set_dedup_settings import SetDedupSettingsPayload
from graphql_schema.mutations.unmerge_contact import UnmergeContactPayload
from graphql_schema.mutations.update_contact import UpdateContactPayload
from graphql_schema.mutations.webhook_endpoints import (
    DeleteWebhookEndpointPayload,
    WebhookEndpointPayload,
)
from graphql_schema.mutations.webhook_subscriptions import (
    CreateWebhookSubscriptionPayload,
    DeleteWebhookSubscriptionPayload,
    WebhookSubscriptionPayload,
)
from graphql_schema.mutations.webhooks import (
    CreateWebhookEndpointPayload,
    ReplayWebhookDeliveryPayload,
)
from graphql_schema.permissions import IsAdmin, IsEditor


@strawberry.type(
    description="Changing contacts (an editor or admin key). Each mutation takes one `input` and "
    "returns a payload with its result and `errors`; bad input changes nothing and is explained "
    "there, never as a top-level error."
)
class Mutation(PmsMutation):
    create_contact: CreateContactPayload = mutation(
        resolver=create_m.resolve,
        description="Create a contact entered by a person.",
        permission_classes=[IsEditor],
    )
    update_contact: UpdateContactPayload = mutation(
        resolver=update_m.resolve,
        description="Change a contact's fields (a manual edit).",
        permission_classes=[IsEditor],
    )
    resolve_contact: ResolveContactPayload = mutation(
        resolver=resolve_m.resolve,
        description="Find the contact behind a channel identifier, creating it when new. "
        "Concurrent calls for one new identity create exactly one contact.",
        permission_classes=[IsEditor],
    )
    contact_context: ContactContextPayload = mutation(
        resolver=context_m.resolve,
        description="For messaging bots, in one call: the contact behind a channel identifier "
        "(created when new, as resolveContact does; a known identifier with no name given is "
        "only read), its next and last appointment, active subscriptions and last order. A "
        "mutation because it may create; takes `channel` and `value` directly (the contract's "
        "signature) rather than one `input`.",
        permission_classes=[IsEditor],
    )
    link_identifier: LinkIdentifierPayload = mutation(
        resolver=identifiers_m.resolve_link,
        description="Attach a channel identifier to a contact.",
        permission_classes=[IsEditor],
    )
    unlink_identifier: UnlinkIdentifierPayload = mutation(
        resolver=identifiers_m.resolve_unlink,
        description="Detach a channel identifier from a contact.",
        permission_classes=[IsEditor],
    )
    import_contacts: ImportContactsPayload = mutation(
        resolver=import_m.resolve,
        description="Bulk import a CSV client list (CONTRACT.md format). Re-running is safe; "
        "rejected rows are listed in the job's errors while the rest import. Files above "
        "CRM_IMPORT_BACKGROUND_BYTES run in the background (the job comes back PENDING with its "
        "progress); the same file imported again resumes an INTERRUPTED job.",
        permission_classes=[IsEditor],
    )
    merge_contacts: MergeContactsPayload = mutation(
        resolver=merge_m.resolve,
        description="Merge contacts into a survivor (admin): identifiers and source records move "
        "to it, survivorship recomputes its fields, and each merged contact becomes a MERGED "
        "tombstone whose id and identifiers lead to the survivor. Dismissals of a merged contact "
        "hold for the survivor; merging a dismissed pair is allowed here (a person's later "
        "decision: the candidate becomes MERGED), never by the sweep. Undo with unmergeContact.",
        permission_classes=[IsAdmin],
    )
    unmerge_contact: UnmergeContactPayload = mutation(
        resolver=unmerge_m.resolve,
        description="Undo a merge (admin): the merged contact comes back exactly as it was and "
        "the survivor is recomputed, keeping what arrived after the merge. The pair is then "
        "dismissed, so no sweep merges it again; dismissals and field choices the merge carried "
        "are taken back.",
        permission_classes=[IsAdmin],
    )
    erase_contact: EraseContactPayload = mutation(
        resolver=erase_m.resolve,
        description="Erase a person's personal data on request (admin): the contact and those "
        "merged into it become ERASED with empty fields; identifiers, source records, activity "
        "(orders, subscriptions, prescriptions, messages), pets and duplicate candidates are "
        "deleted; history and merge snapshots lose their values; stored webhook "
        "deliveries that named the person lose their body. Cannot be undone. Subscribers get "
        '`contact.erased`. See docs/webhooks.md "Erasure".',
        permission_classes=[IsAdmin],
    )
    dismiss_duplicate: DismissDuplicatePayload = mutation(
        resolver=dismiss_m.resolve,
        description="Dismiss a duplicate candidate (admin): the two are different people and "
        "the pair is never proposed again, also after either is merged into another contact "
        "(the dismissal is carried to the survivor). Dismissing it twice is harmless.",
        permission_classes=[IsAdmin],
    )
    run_dedup_sweep: RunDedupSweepPayload = mutation(
        resolver=sweep_m.resolve,
        description="Run the dedup sweep of the organization now and wait for its summary "
        "(admin). A sweep already running makes this one a no-op (`skipped`).",
        permission_classes=[IsAdmin],
    )
    create_pet: CreatePetPayload = mutation(
        resolver=pets_m.resolve_create,
        description="Create a pet of an active contact (editor). A microchip held by another "
        "pet is MICROCHIP_CONFLICT: a microchip identifies one animal.",
        permission_classes=[IsEditor],
    )
    update_pet: UpdatePetPayload = mutation(
        resolver=pets_m.resolve_update,
        description="Change a pet (editor): a new version when anything changed, none when "
        "nothing did. `version` checks nobody changed it since you read it.",
        permission_classes=[IsEditor],
    )
    create_api_key: CreateApiKeyPayload = mutation(
        resolver=api_keys_m.resolve_create,
        description="Make an API key of the organization (admin). The key itself is in this "
        "response only; afterwards `apiKeys` shows its prefix, never the secret.",
        permission_classes=[IsAdmin],
    )
    revoke_api_key: RevokeApiKeyPayload = mutation(
        resolver=api_keys_m.resolve_revoke,
        description="Revoke an API key of the organization (admin): every API process refuses "
        "it from its next request (keys are checked against the database on each request, "
        "never cached). Revoking it again changes nothing.",
        permission_classes=[IsAdmin],
    )
    create_webhook_subscription: CreateWebhookSubscriptionPayload = mutation(
        resolver=subscriptions_m.resolve_create,
        description="Send the organization's events to a URL (admin), signed the Standard "
        "Webhooks way with the secret returned this once. See docs/webhooks.md.",
        permission_classes=[IsAdmin],
    )
    delete_webhook_subscription: DeleteWebhookSubscriptionPayload = mutation(
        resolver=subscriptions_m.resolve_delete,
        description="Stop sending events to a subscription (admin); undelivered ones are dropped.",
        permission_classes=[IsAdmin],
    )
    create_webhook_endpoint: CreateWebhookEndpointPayload = mutation(
        resolver=webhooks_m.resolve_create,
        description="Create an inbound webhook endpoint (admin): its URL and secret, the "
        "secret shown this once. See docs/webhooks.md for each provider's setup.",
        permission_classes=[IsAdmin],
    )
    disable_webhook_endpoint: WebhookEndpointPayload = mutation(
        resolver=endpoints_m.resolve_disable,
        description="Stop accepting deliveries at an endpoint (admin): they answer 404 and "
        "nothing is stored until it is enabled again. Disabling it twice changes nothing.",
        permission_classes=[IsAdmin],
    )
    enable_webhook_endpoint: WebhookEndpointPayload = mutation(
        resolver=endpoints_m.resolve_enable,
        description="Accept deliveries at a disabled endpoint again (admin).",
        permission_classes=[IsAdmin],
    )
    rotate_webhook_endpoint_secret: WebhookEndpointPayload = mutation(
        resolver=endpoints_m.resolve_rotate,
        description="Replace an endpoint's secret (admin): the new one is in this answer only; "
        "deliveries signed with the old one are refused (401) from now on.",
        permission_classes=[IsAdmin],
    )
    delete_webhook_endpoint: DeleteWebhookEndpointPayload = mutation(
        resolver=endpoints_m.resolve_delete,
        description="Delete an endpoint and the raw deliveries it stored (admin); the activity "
        "they brought stays. Its URL answers 404 from now on.",
        permission_classes=[IsAdmin],
    )
    disable_webhook_subscription: WebhookSubscriptionPayload = mutation(
        resolver=subscriptions_m.resolve_disable,
        description="Stop sending events to a subscription for now (admin): none is queued "
        "while it is disabled and undelivered ones are dropped.",
        permission_classes=[IsAdmin],
    )
    enable_webhook_subscription: WebhookSubscriptionPayload = mutation(
        resolver=subscriptions_m.resolve_enable,
        description="Send events to a disabled subscription again, from now on (admin).",
        permission_classes=[IsAdmin],
    )
    rotate_webhook_subscription_secret: WebhookSubscriptionPayload = mutation(
        resolver=subscriptions_m.resolve_rotate,
        description="Replace a subscription's signing secret (admin): the new one is in this "
        "answer only; every attempt from now on, retries included, is signed with it.",
        permission_classes=[IsAdmin],
    )
    replay_webhook_delivery: ReplayWebhookDeliveryPayload = mutation(
        resolver=webhooks_m.resolve_replay,
        description="Process a stored delivery again from its raw body (admin), e.g. a FAILED "
        "one after a fix. Processing is idempotent: a processed delivery changes nothing.",
        permission_classes=[IsAdmin],
    )
    set_dedup_settings: SetDedupSettingsPayload = mutation(
        resolver=dedup_settings_m.resolve,
        description="Set the organization's dedup thresholds, as probabilities (admin): "
        "`autoMergeAt` (merge on their own) and `reviewAt` (queue for a person).",
        permission_classes=[IsAdmin],
    )
