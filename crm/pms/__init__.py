"""PMS sync: connections, adapters (Cliniko), the HTTP core, the sync orchestrator.

See docs/pms.md. Nothing here imports GraphQL or arq.
"""
