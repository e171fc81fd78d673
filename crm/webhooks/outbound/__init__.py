"""Outbound webhooks: subscriptions, the outbox written with each change, signed delivery.

See docs/webhooks.md "Sending webhooks".
"""
