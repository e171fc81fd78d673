"""Audit a throwaway server: migrate and seed a temporary SQLite file, serve it, run audit.mjs.

    .venv/bin/python bench/graphql-http/run.py [--json] [--strict]

Installs the pinned graphql-http with ``npm ci`` on first use. Extra arguments go to audit.mjs;
the exit status is audit.mjs's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def seed(database_url: str) -> str:
    """Migrate the database and return an admin API key of a fresh organization."""
    from sqlmodel import Session

    from crm.db import make_engine
    from crm.migrate import upgrade
    from crm.tenancy.service import create_api_key, create_organization

    engine = make_engine(database_url)
    upgrade(engine=engine)
    with Session(engine) as session:
        org = create_organization(session, name="graphql-http audit", region="AU")
        _, key = create_api_key(session, organization_id=org.id, role="admin")
        session.commit()
    engine.dispose()
    return key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server did not answer {url} within {timeout:.0f}s")


def main(argv: list[str]) -> int:
    if not (HERE / "node_modules" / "graphql-http").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'crm.db'}"
        key = seed(database_url)
        port = free_port()
        pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "CRM_DATABASE_URL": database_url, "PYTHONPATH": pythonpath}
        command = [sys.executable, "-m", "uvicorn", "graphql_schema.app:create_app", "--factory"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        server = subprocess.Popen(
            command,
            cwd=tmp,
            env=env,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/healthz", server)
            audit = subprocess.run(
                ["node", str(HERE / "audit.mjs"), f"http://127.0.0.1:{port}/graphql", *argv],
                env={**os.environ, "CRM_API_KEY": key},
                check=False,
            )
            return audit.returncode
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main(sys.argv[1:]))
