"""Inbound webhooks: the inbox (stored before acknowledged) and one parser per provider."""
