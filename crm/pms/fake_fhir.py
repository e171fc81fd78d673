"""A fake FHIR R4 server (Halaxy, MediRecords or Gentu): real HTTP on loopback.

For the tests: Patient, Appointment and Practitioner searches answering ``searchset``
Bundles with ``_count`` and an absolute ``next`` link, ``_lastUpdated=gt``, ``date=ge|lt``
and ``_sort=_lastUpdated``; Halaxy's OAuth token endpoint (JSON client credentials) with
tokens that expire, MediRecords' bearer token and ``practiceId`` header, or Gentu's pairing
(code -> tenant and secret -> tokens; an assumed shape, see docs/pms.md); and faults on
demand: 429 with ``Retry-After``, transient 500s, an OperationOutcome error, expired tokens,
an outage from some request on.

    with FakeFhir("halaxy") as fake:
        fake.add_patient(given=["Ada"], family="Lovelace")
        ... base_url=fake.base_url ...
"""

from __future__ import annotations

import copy
import itertools
import secrets
import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crm.pms.fake_cliniko import LoopbackServer

PREFIX = {"halaxy": "/main", "medirecords": "/fhir/v1", "gentu": "/v1"}
GENTU_TENANT = "tenant-7f3a"


def _fmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def outcome(code: str, diagnostics: str = "") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }


class FakeFhir:
    """The server and its data; every method is safe to call while it serves."""

    def __init__(
        self,
        flavor: str = "halaxy",
        *,
        client_id: str = "client-1",
        client_secret: str = "secret-1",
        token: str = "mr-token-1",
        practice_id: str = "practice-1",
        max_count: int = 100,
    ) -> None:
        assert flavor in PREFIX
        self.flavor = flavor
        self.client_id, self.client_secret = client_id, client_secret
        self.static_token, self.practice_id = token, practice_id
        self.max_count = max_count
        self.patients: dict[str, dict[str, Any]] = {}
        self.appointments: dict[str, dict[str, Any]] = {}
        self.practitioners: list[dict[str, Any]] = [
            {
                "resourceType": "Practitioner",
                "id": "PR-1",
                "name": [
                    {"use": "official", "prefix": ["Dr"], "given": ["Sarah"], "family": "Wilson"}
                ],
            }
        ]
        self.raw_patients: list[Any] = []  # served as they are (malformed entries)
        self.requests: list[dict[str, Any]] = []
        self.tokens_issued = 0
        self.refused = 0  # requests answered 401 (no token, or one expired or unknown)
        # Gentu: pairing codes not used yet, and the tenant secret pairing hands out
        self.pairing_codes: set[str] = {"PAIR-1234"}
        self.tenant_secret = "tenant-secret-1"
        self._tokens: set[str] = set()
        self._faults: deque[tuple[str, Any]] = deque()
        self.fail_from_request: int | None = None
        self.expire_tokens_at: int | None = None  # at this request number, tokens expire
        self._ids = itertools.count(1000)
        self._clock = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
        self._lock = threading.Lock()
        self._loopback: LoopbackServer | None = None
        self.port = 0

    # -- data ---------------------------------------------------------------------------
    def tick(self) -> datetime:
        with self._lock:
            self._clock += timedelta(seconds=1)
            return self._clock

    def add_patient(
        self,
        *,
        id: str | None = None,
        given: list[str] | None = None,
        family: str | None = None,
        **values: Any,
    ) -> dict[str, Any]:
        pid = id or f"{next(self._ids)}"
        record: dict[str, Any] = {
            "resourceType": "Patient",
            "id": pid,
            "meta": {"versionId": "1", "lastUpdated": _fmt(self.tick())},
            "active": True,
            "name": [{"use": "official", "family": family or "", "given": given or []}],
        }
        record.update(values)
        with self._lock:
            self.patients[pid] = record
        return record

    def update_patient(self, pid: str, **values: Any) -> dict[str, Any]:
        stamp = _fmt(self.tick())
        with self._lock:
            record = self.patients[pid]
            record.update(values)
            record["meta"] = {
                "versionId": str(int(record["meta"]["versionId"]) + 1),
                "lastUpdated": stamp,
            }
            return record

    def add_appointment(
        self,
        *,
        patient_id: str,
        start: datetime,
        minutes: int = 30,
        practitioner_id: str = "PR-1",
        status: str = "booked",
        type_code: str | None = "initial",
        type_name: str | None = "Initial consult",
        **values: Any,
    ) -> dict[str, Any]:
        aid = f"{next(self._ids)}"
        record: dict[str, Any] = {
            "resourceType": "Appointment",
            "id": aid,
            "meta": {"versionId": "1", "lastUpdated": _fmt(self.tick())},
            "status": status,
            "start": start.astimezone(UTC).isoformat(),
            "end": (start + timedelta(minutes=minutes)).astimezone(UTC).isoformat(),
            "participant": [
                {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"},
                {
                    "actor": {"reference": f"{self.data_url}/Practitioner/{practitioner_id}"},
                    "status": "accepted",
                },
            ],
        }
        if type_code or type_name:
            record["appointmentType"] = {
                "coding": [{"code": type_code, "display": type_name}],
                "text": type_name,
            }
        record.update(values)
        with self._lock:
            self.appointments[aid] = record
        return record

    def update_appointment(self, aid: str, **values: Any) -> None:
        stamp = _fmt(self.tick())
        with self._lock:
            self.appointments[aid].update(values)
            self.appointments[aid]["meta"] = {"versionId": "2", "lastUpdated": stamp}

    # -- faults -------------------------------------------------------------------------
    def rate_limit_next(self, count: int = 1, *, retry_after: int = 1) -> None:
        self._faults.extend([("429", retry_after)] * count)

    def fail_next(self, count: int = 1, *, status: int = 500) -> None:
        self._faults.extend([("status", status)] * count)

    def outcome_next(self, *, status: int = 400, code: str = "invalid") -> None:
        """The next request answers ``status`` with an OperationOutcome of ``code``."""
        self._faults.append(("outcome", (status, code)))

    def expire_tokens(self) -> None:
        """Every token issued so far expires now (Halaxy answers 401 until a new one)."""
        with self._lock:
            self._tokens.clear()

    # -- serving ------------------------------------------------------------------------
    async def _token(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        if (
            not isinstance(body, dict)
            or body.get("grant_type") != "client_credentials"
            or body.get("client_id") != self.client_id
            or body.get("client_secret") != self.client_secret
        ):
            return JSONResponse(outcome("security", "invalid client"), status_code=401)
        value = secrets.token_hex(8)
        with self._lock:
            self._tokens.add(value)
            self.tokens_issued += 1
        return JSONResponse({"token_type": "Bearer", "expires_in": 900, "access_token": value})

    async def _pair(self, request: Request) -> Response:
        """Gentu (assumed shape): a one-time pairing code -> the tenant and its secret."""
        try:
            body = await request.json()
        except ValueError:
            body = {}
        code = body.get("pairingCode") if isinstance(body, dict) else None
        with self._lock:
            known = code in self.pairing_codes
            self.pairing_codes.discard(code)
        if not known:
            return JSONResponse(
                {"error": "invalid_pairing_code", "message": "unknown or used"}, status_code=400
            )
        return JSONResponse({"tenantId": GENTU_TENANT, "tenantSecret": self.tenant_secret})

    async def _tenant_token(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        if (
            request.path_params.get("tenant") != GENTU_TENANT
            or not isinstance(body, dict)
            or body.get("tenantSecret") != self.tenant_secret
        ):
            return JSONResponse({"error": "invalid_tenant_secret"}, status_code=401)
        value = secrets.token_hex(8)
        with self._lock:
            self._tokens.add(value)
            self.tokens_issued += 1
        return JSONResponse({"accessToken": value, "expiresIn": 900})

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return False
        value = header[7:]
        if self.flavor == "medirecords":
            return value == self.static_token and (
                request.headers.get("practiceid") == self.practice_id
            )
        with self._lock:
            return value in self._tokens

    async def _handle(self, request: Request) -> Response:
        path = request.url.path.removeprefix(PREFIX[self.flavor]).strip("/")
        if self.flavor == "gentu":
            path = path.removeprefix(f"tenants/{GENTU_TENANT}/fhir").strip("/")
        with self._lock:
            self.requests.append(
                {
                    "path": path,
                    "query": str(request.url.query),
                    "user_agent": request.headers.get("user-agent"),
                    "accept": request.headers.get("accept"),
                }
            )
            number = len(self.requests)
            fault = self._faults.popleft() if self._faults else None
            if number == self.expire_tokens_at:
                self._tokens.clear()
        if self.fail_from_request is not None and number >= self.fail_from_request:
            return JSONResponse(outcome("transient", "unavailable"), status_code=503)
        if fault is not None:
            kind, value = fault
            if kind == "429":
                return JSONResponse(
                    outcome("throttled"), status_code=429, headers={"Retry-After": str(value)}
                )
            if kind == "status":
                return JSONResponse(outcome("exception"), status_code=int(value))
            if kind == "outcome":
                status, code = value
                return JSONResponse(
                    outcome(code, "Jane Citizen's search is invalid"), status_code=status
                )
        if not self._authorized(request):
            with self._lock:
                self.refused += 1
            return JSONResponse(outcome("login", "token expired or invalid"), status_code=401)
        with self._lock:
            listing = {
                "Patient": list(self.patients.values()) + list(self.raw_patients),
                "Appointment": list(self.appointments.values()),
                "Practitioner": list(self.practitioners),
            }.get(path)
        if listing is None:
            return JSONResponse(outcome("not-supported"), status_code=404)
        return JSONResponse(self._bundle(request, path, listing))

    def _bundle(self, request: Request, path: str, items: list[Any]) -> dict[str, Any]:
        query = request.query_params
        for since in query.getlist("_lastUpdated"):
            if since.startswith("gt"):
                items = [i for i in items if _updated(i) is None or _updated(i) > since[2:]]
        for flt in query.getlist("date"):
            op, value = flt[:2], flt[2:]
            items = [i for i in items if _date_matches(i, op, value)]
        if query.get("_sort") == "_lastUpdated":
            items = sorted(items, key=lambda i: (_updated(i) or "", str(_get(i, "id"))))
        count = min(int(query.get("_count", 50)), self.max_count)
        page = int(query.get("page", 1))
        with self._lock:
            chunk = copy.deepcopy(items[(page - 1) * count : page * count])
        params = [(k, v) for k, v in query.multi_items() if k != "page"]
        base = f"{self.data_url}/{path}"

        def link(number: int) -> str:
            return f"{base}?{urlencode([*params, ('page', str(number))])}"

        links = [{"relation": "self", "url": link(page)}]
        if page * count < len(items):
            links.append({"relation": "next", "url": link(page + 1)})
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(items),
            "link": links,
            "entry": [
                {"fullUrl": f"{base}/{_get(r, 'id')}", "resource": r, "search": {"mode": "match"}}
                for r in chunk
            ],
        }

    def app(self) -> Starlette:
        prefix = PREFIX[self.flavor]
        routes = [Route(prefix + "/{path:path}", self._handle, methods=["GET"])]
        if self.flavor == "halaxy":
            routes.insert(0, Route(prefix + "/oauth/token", self._token, methods=["POST"]))
        if self.flavor == "gentu":
            routes.insert(0, Route(prefix + "/pairing", self._pair, methods=["POST"]))
            routes.insert(
                0, Route(prefix + "/tenants/{tenant}/token", self._tenant_token, methods=["POST"])
            )
        return Starlette(routes=routes)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX[self.flavor]}"

    @property
    def data_url(self) -> str:
        """Where the FHIR resources are (Gentu: under the tenant)."""
        if self.flavor == "gentu":
            return f"{self.base_url}/tenants/{GENTU_TENANT}/fhir"
        return self.base_url

    @property
    def credentials(self) -> dict[str, str]:
        if self.flavor == "halaxy":
            return {"clientId": self.client_id, "clientSecret": self.client_secret}
        if self.flavor == "gentu":
            return {"pairingCode": next(iter(sorted(self.pairing_codes)), "")}
        return {"token": self.static_token, "practiceId": self.practice_id}

    def start(self) -> FakeFhir:
        self._loopback = LoopbackServer(self.app()).start()
        self.port = self._loopback.port
        return self

    def stop(self) -> None:
        if self._loopback is not None:
            self._loopback.stop()

    def __enter__(self) -> FakeFhir:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _get(item: Any, field: str) -> Any:
    return item.get(field) if isinstance(item, dict) else None


def _updated(item: Any) -> str | None:
    meta = _get(item, "meta")
    return meta.get("lastUpdated") if isinstance(meta, dict) else None


def _date_matches(item: Any, op: str, value: str) -> bool:
    start = _get(item, "start")
    if not isinstance(start, str):
        return False
    have = _fmt(datetime.fromisoformat(start.replace("Z", "+00:00")))
    return {"ge": have >= value, "gt": have > value, "lt": have < value, "le": have <= value}[op]
