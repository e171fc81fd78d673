"""Configuration from the environment (prefix ``CRM_``)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE = Path(".crm-secret")
PREVIOUS_SECRET_FILE = Path(".crm-secret.previous")


class Settings(BaseSettings):
    """Every setting the service reads; see the README for their meaning."""

    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore")

    database_url: str = "sqlite:///./crm.db"
    # A sick database must be a fast answer, not a frozen worker (docs/operations.md).
    # PostgreSQL: seconds to wait for a connection to be made (libpq's minimum is 2; a
    # ``connect_timeout`` in the URL wins)
    db_connect_timeout: int = Field(default=3, ge=1, le=600)
    # PostgreSQL: seconds a statement of the request path's asyncio connections (API-key
    # checks, lookups) may run before the server cancels it (0: no limit); imports, sweeps,
    # merges and migrations run on the engine, without it
    db_statement_timeout: float = Field(default=60.0, ge=0)
    # seconds a request waits for a pooled connection before it is told the database is
    # unavailable
    db_pool_timeout: float = Field(default=4.0, gt=0)
    # seconds /healthz waits for its database check before answering 503 "timeout"
    health_timeout: float = Field(default=1.5, gt=0)
    redis_url: str | None = None
    # the largest inbound webhook body accepted (413 beyond it)
    webhook_max_bytes: int = Field(default=1024 * 1024, ge=1024)
    # outbound webhooks may go to loopback and private addresses (tests, local development
    # only: it turns the SSRF guard off)
    webhook_allow_private_targets: bool = False
    # without Redis, the API sends due outbound webhooks every this many seconds (0: never;
    # then run `crm webhooks deliver --loop`)
    webhook_send_interval_seconds: float = Field(default=5.0, ge=0)
    secret_key: str | None = None
    # keys that encrypted PMS credentials before the last ``crm secret rotate`` (comma
    # separated): still read, never written
    previous_secret_keys: str | None = None
    env: str = "development"
    # GraphQL hardening limits
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    log_level: str = "INFO"
    # auto: JSON when stderr is not a terminal, else console; or json / console
    log_format: str = Field(default="auto", pattern=r"^(?i:auto|json|console)$")
    # a developer's switch: error logs then carry GraphQL query text, variables and exception
    # messages, which may name a person (never on in production)
    log_personal_data: bool = False
    # importContacts uploads above this size run in the background (the arq worker with
    # Redis, else the app's own import runner) and the mutation answers at once
    import_background_bytes: int = Field(default=256 * 1024, ge=0)
    # imports the app's runner (no Redis) runs at a time, each in a child process of its
    # own (the name is older than the processes); the others wait their turn
    import_runner_threads: int = Field(default=1, ge=1, le=8)
    # a running import whose heartbeat (written as each batch commits) is older than this
    # lost its process: it is reported interrupted, and importing the same file resumes it
    import_heartbeat_limit_seconds: float = Field(default=120.0, gt=0)
    # rows per committed import batch: a crash loses at most one batch of work
    import_batch_size: int = Field(default=2000, ge=1, le=100_000)
    # worker processes that normalise large imports ahead of storing them; 0 = in-process.
    # Off by default: on 2 CPUs shared with PostgreSQL, pickling results cost more than the
    # overlap saved (bench/import); worth it with cores to spare.
    import_workers: int = Field(default=0, ge=0, le=8)
    # files from this size on use the workers (starting one costs about a second)
    import_parallel_min_bytes: int = Field(default=4 * 1024 * 1024, ge=0)
    # PostgreSQL: store each batch on a second thread while the next one is read and
    # normalised (the database's COPY work overlaps the importer's Python); off = one
    # batch at a time, as on SQLite and in dry runs
    import_overlap: bool = True

    # the weekly dedup sweep of every organization (arq cron, the worker's local time)
    dedup_cron_enabled: bool = True
    dedup_cron_weekday: str = Field(
        default="sun", pattern=r"^(mon|tues|wed|thurs|fri|sat|sun|[0-6])$"
    )
    dedup_cron_hour: int = Field(default=3, ge=0, le=23)
    dedup_cron_minute: int = Field(default=0, ge=0, le=59)
    # processes that score candidate pairs in a sweep (1: in the sweep's own process)
    dedup_workers: int = Field(default=1, ge=1, le=16)

    # PMS sync (docs/pms.md): sent as ``User-Agent: NAME (EMAIL)``, which Cliniko requires
    pms_user_agent: str = "Unified Contacts CRM (pms-sync@example.com)"
    # seconds an HTTP call to a PMS may take (connect, read, write, pool each)
    pms_http_timeout: float = Field(default=20.0, gt=0)
    # tries per PMS request before a transient failure (429, 5xx, connection) fails the run
    pms_http_attempts: int = Field(default=5, ge=1, le=20)
    # the longest one wait between tries may be (a Retry-After beyond it fails the request)
    pms_http_max_wait: float = Field(default=60.0, ge=0)
    # an incremental sync asks for records changed since its cursor less this many seconds,
    # so a record written while the last run read its page is read again (a no-op)
    pms_sync_overlap_seconds: int = Field(default=300, ge=0)
    # appointments synced this many days back and forward
    pms_appointment_window_days: int = Field(default=45, ge=1, le=3650)
    # a running sync whose heartbeat (written as each page commits) is older than this lost
    # its process: it is marked failed and the next run resumes from the committed cursor
    pms_sync_heartbeat_limit_seconds: float = Field(default=900.0, gt=0)

    @property
    def production(self) -> bool:
        return self.env.lower() == "production"

    def resolved_secret_key(self) -> str:
        """The configured secret key, or the one generated into ``./.crm-secret``."""
        if self.secret_key:
            return self.secret_key
        if SECRET_FILE.exists():
            return SECRET_FILE.read_text().strip()
        key = new_secret_key()
        SECRET_FILE.write_text(key + "\n")
        SECRET_FILE.chmod(0o600)
        return key


def new_secret_key() -> str:
    """A fresh random secret key (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def previous_keys(settings: Settings) -> list[str]:
    """``CRM_PREVIOUS_SECRET_KEYS`` and the keys ``crm secret rotate`` kept in
    ``./.crm-secret.previous``, newest first."""
    keys = [k.strip() for k in (settings.previous_secret_keys or "").split(",") if k.strip()]
    if PREVIOUS_SECRET_FILE.exists():
        keys += [k.strip() for k in PREVIOUS_SECRET_FILE.read_text().splitlines() if k.strip()]
    return keys


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own ``Settings``)."""
    return Settings()
