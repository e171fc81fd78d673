"""Staff search over contacts: trigram on PostgreSQL, a rapidfuzz-ranked scan on SQLite."""
