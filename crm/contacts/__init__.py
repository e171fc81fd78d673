"""Contacts: reading (``queries``) and changing one at a time (``commands``)."""
