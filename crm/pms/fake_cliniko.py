"""A fake Cliniko: a real HTTP server on loopback that answers like the documented API.

For the tests and ``bench/pms``: patients (active, archived, merged, deleted), individual
appointments (cancelled too), practitioners and appointment types, with Basic auth,
``per_page``/``page`` and absolute ``links.next``, ``q[]`` time filters, ``sort``, and faults
on demand: 429 with ``X-RateLimit-Reset``, transient 500s, answers slower than the client's
timeout, malformed records, and an outage from some request on.

    with FakeCliniko(api_key="key-au2") as fake:
        fake.add_patient(first_name="Ada", last_name="Lovelace")
        ... base_url=fake.base_url ...
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import itertools
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_OPS = (">=", "<=", ">", "<")
_SORTED_PATHS = (
    "patients",
    "patients/archived",
    "patients/deleted",
    "individual_appointments",
    "individual_appointments/cancelled",
)


def _fmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeCliniko:
    """The server and its data; every method is safe to call while it serves."""

    def __init__(self, *, api_key: str = "fake-key-au1", max_per_page: int = 100) -> None:
        self.api_key = api_key
        self.max_per_page = max_per_page
        self.patients: dict[int, dict[str, Any]] = {}
        self.appointments: dict[int, dict[str, Any]] = {}
        self.practitioners: list[dict[str, Any]] = [
            {"id": 1, "first_name": "Jane", "last_name": "Doctor", "display_name": "Dr Jane"}
        ]
        self.appointment_types: list[dict[str, Any]] = [
            {"id": 1, "name": "Initial consult", "telehealth_enabled": False},
            {"id": 2, "name": "Telehealth review", "telehealth_enabled": True},
        ]
        # raw objects served as they are among the patients (malformed records)
        self.raw_patients: list[Any] = []
        self.requests: list[dict[str, Any]] = []
        self._faults: deque[tuple[str, float]] = deque()
        self.fail_from_request: int | None = None  # every request from this number on: 503
        self._ids = itertools.count(1000)
        self._clock = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
        self._lock = threading.Lock()
        # a listing filtered and sorted once per query while the data is unchanged, so that
        # paging through it costs the fake a slice, not a sort, per page (bench/pms)
        self._version = 0
        self._listings: dict[tuple, tuple[int, list[Any]]] = {}
        self._loopback: LoopbackServer | None = None
        self.port = 0

    # -- data ---------------------------------------------------------------------------
    def tick(self) -> datetime:
        """The fake's clock: one second later at each change, so updates order strictly."""
        with self._lock:
            self._clock += timedelta(seconds=1)
            self._version += 1
            return self._clock

    def _link(self, path: str) -> dict[str, Any]:
        return {"links": {"self": f"{self.base_url}/{path}"}}

    def add_patient(self, *, id: int | None = None, **values: Any) -> dict[str, Any]:
        """A patient in Cliniko's shape; ``values`` override any field."""
        pid = id if id is not None else next(self._ids)
        stamp = _fmt(self.tick())
        record = {
            "id": pid,
            "first_name": "",
            "last_name": "",
            "email": "",
            "date_of_birth": "",
            "address_1": "",
            "address_2": "",
            "address_3": "",
            "city": "",
            "state": "",
            "post_code": "",
            "country": "",
            "archived_at": "",
            "deleted_at": "",
            "accepted_email_marketing": False,
            "accepted_sms_marketing": False,
            "accepted_privacy_policy": True,
            "preferred_first_name": "",
            "patient_phone_numbers": [],
            "created_at": stamp,
            "updated_at": stamp,
            "links": {"self": f"{self.base_url}/patients/{pid}"},
        }
        record.update(values)
        with self._lock:
            self.patients[pid] = record
        return record

    def update_patient(self, pid: int, **values: Any) -> dict[str, Any]:
        stamp = _fmt(self.tick())
        with self._lock:
            self.patients[pid].update(values, updated_at=stamp)
            return self.patients[pid]

    def archive_patient(self, pid: int) -> None:
        stamp = _fmt(self.tick())
        self.update_patient(pid, archived_at=stamp)

    def delete_patient(self, pid: int) -> None:
        stamp = _fmt(self.tick())
        self.update_patient(pid, deleted_at=stamp)

    def merge_patients(self, pid: int, *, into: int) -> None:
        """Cliniko's merge: ``pid`` is archived, pointing at the patient it merged into."""
        stamp = _fmt(self.tick())
        self.update_patient(
            pid,
            archived_at=stamp,
            merged_at=stamp,
            merged_with_patient={"links": {"self": f"{self.base_url}/patients/{into}"}},
        )

    def add_appointment(
        self,
        *,
        patient_id: int,
        starts_at: datetime,
        minutes: int = 30,
        practitioner_id: int = 1,
        appointment_type_id: int = 1,
        **values: Any,
    ) -> dict[str, Any]:
        aid = next(self._ids)
        stamp = _fmt(self.tick())
        record = {
            "id": aid,
            "created_at": stamp,
            "updated_at": stamp,
            "starts_at": _fmt(starts_at),
            "ends_at": _fmt(starts_at + timedelta(minutes=minutes)),
            "cancelled_at": None,
            "deleted_at": None,
            "did_not_arrive": False,
            "patient_arrived": False,
            "patient_name": "",
            "patient": self._link(f"patients/{patient_id}"),
            "practitioner": self._link(f"practitioners/{practitioner_id}"),
            "appointment_type": self._link(f"appointment_types/{appointment_type_id}"),
        }
        record.update(values)
        with self._lock:
            self.appointments[aid] = record
        return record

    def update_appointment(self, aid: int, **values: Any) -> None:
        stamp = _fmt(self.tick())
        with self._lock:
            self.appointments[aid].update(values, updated_at=stamp)

    # -- faults -------------------------------------------------------------------------
    def rate_limit_next(self, count: int = 1, *, reset_in: float = 1.0) -> None:
        """The next ``count`` requests get 429 with ``X-RateLimit-Reset`` ``reset_in`` s ahead."""
        self._faults.extend([("429", reset_in)] * count)

    def fail_next(self, count: int = 1, *, status: int = 500) -> None:
        self._faults.extend([("status", float(status))] * count)

    def slow_next(self, count: int = 1, *, seconds: float = 2.0) -> None:
        self._faults.extend([("slow", seconds)] * count)

    # -- serving ------------------------------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user = base64.b64decode(header[6:]).decode().partition(":")[0]
        except ValueError:
            return False
        return user == self.api_key

    async def _handle(self, request: Request) -> Response:
        path = request.url.path.removeprefix("/v1").strip("/")
        with self._lock:
            self.requests.append(
                {
                    "path": path,
                    "query": str(request.url.query),
                    "user_agent": request.headers.get("user-agent"),
                }
            )
            number = len(self.requests)
            fault = self._faults.popleft() if self._faults else None
        if self.fail_from_request is not None and number >= self.fail_from_request:
            return JSONResponse({"errors": "unavailable"}, status_code=503)
        if fault is not None:
            kind, value = fault
            if kind == "429":
                return JSONResponse(
                    {"errors": "rate limited"},
                    status_code=429,
                    headers={"X-RateLimit-Reset": str(int(time.time() + value) + 1)},
                )
            if kind == "status":
                return JSONResponse({"errors": "oops"}, status_code=int(value))
            if kind == "slow":
                await asyncio.sleep(value)
        if not self._authorized(request):
            return JSONResponse({"errors": "unauthorized"}, status_code=401)
        return self._serve(request, path)

    def _serve(self, request: Request, path: str) -> Response:
        # a listing filtered and sorted once per query while the data is unchanged: paging
        # through it costs the fake a slice per page, not a pass over every record
        query = tuple(
            (k, v) for k, v in request.query_params.multi_items() if k not in ("page", "per_page")
        )
        cache_key = (path, query, len(self.raw_patients))
        with self._lock:
            cached = self._listings.get(cache_key)
            version = self._version
        if cached is not None and cached[0] == version:
            key, items = cached[1]
            return self._paged(request, key, items)
        sorted_listing = self._sorted(request, path, version)
        if sorted_listing is not None:
            key, items = sorted_listing
        else:
            listing = self._listing(path)
            if listing is None:
                return JSONResponse({"errors": "not found"}, status_code=404)
            key, items = listing
            items = self._filtered(request, items)
        if key in ("patients", "individual_appointments"):
            with self._lock:
                if len(self._listings) > 64:
                    self._listings.clear()
                self._listings[cache_key] = (version, (key, items))
        return self._paged(request, key, items)

    def _listing(self, path: str) -> tuple[str, list[Any]] | None:
        # references here; a page is rendered as it is served (``_paged``)
        with self._lock:
            patients = list(self.patients.values())
            appointments = list(self.appointments.values())
            raw = list(self.raw_patients)
        if path == "patients":
            live = [p for p in patients if not p["archived_at"] and not p["deleted_at"]]
            return "patients", live + raw
        if path == "patients/archived":
            return "patients", [p for p in patients if p["archived_at"] and not p["deleted_at"]]
        if path == "patients/deleted":
            return "patients", [
                {
                    "id": p["id"],
                    "deleted_at": p["deleted_at"],
                    "links": {"self": f"{self.base_url}/patients/{p['id']}"},
                }
                for p in patients
                if p["deleted_at"]
            ]
        if path == "individual_appointments":
            return "individual_appointments", [
                a for a in appointments if not a["cancelled_at"] and not a["deleted_at"]
            ]
        if path == "individual_appointments/cancelled":
            return "individual_appointments", [
                a for a in appointments if a["cancelled_at"] and not a["deleted_at"]
            ]
        if path == "practitioners":
            return "practitioners", list(self.practitioners)
        if path == "appointment_types":
            return "appointment_types", list(self.appointment_types)
        return None

    def _sorted(self, request: Request, path: str, version: int) -> tuple[str, list[Any]] | None:
        """A query sorted by a time and filtered on it (an incremental sync's) answered from
        the listing sorted once while the data is unchanged: a binary search to the first
        record after the time, then the other filters over what follows (as ``_filtered``
        would, without a pass over every record). None for any other query."""
        sort = request.query_params.get("sort")
        if not sort or self.raw_patients or path not in _SORTED_PATHS:
            return None
        first = sort.split(",")[0].partition(":")[0]
        key, items, keys = self._sorted_listing(path, sort, version)
        start = 0
        rest: list[tuple[str, str, str]] = []
        for flt in request.query_params.getlist("q[]"):
            field, _, text = flt.partition(":")
            op = next((o for o in _OPS if text.startswith(o)), None)
            if op is None:
                continue
            value = text[len(op) :]
            if field == first and op in (">", ">="):
                find = bisect.bisect_right if op == ">" else bisect.bisect_left
                start = max(start, find(keys, value))
            else:
                rest.append((field, op, value))
        found = items[start:]
        for field, op, value in rest:
            found = [i for i in found if _matches(i, field, op, value)]
        return key, found

    def _sorted_listing(
        self, path: str, sort: str, version: int
    ) -> tuple[str, list[Any], list[str]]:
        """``path``'s listing sorted by ``sort``, and each record's first sort field, kept
        while the data is unchanged."""
        sort_key = ("sorted", path, sort)
        with self._lock:
            cached = self._listings.get(sort_key)
        if cached is not None and cached[0] == version:
            return cached[1]
        listing = self._listing(path)
        assert listing is not None
        key, items = listing
        fields = [f.partition(":")[0] for f in sort.split(",")]
        items.sort(key=_sort_key(fields))
        first = fields[0]
        keys = [str(_get(i, first) or "") for i in items]
        with self._lock:
            self._listings[sort_key] = (version, (key, items, keys))
        return key, items, keys

    def index(self) -> None:
        """Sort now the listings a sync reads by time (``updated_at``, ``deleted_at``): a real
        Cliniko answers them from its database's indexes, the fake sorts on the first such
        request after a change, which a benchmark would count as the sync's time."""
        with self._lock:
            version = self._version
        for path, sort in (
            ("patients", "updated_at,id"),
            ("patients/archived", "updated_at,id"),
            ("patients/deleted", "deleted_at,id"),
            ("individual_appointments", "updated_at,id"),
            ("individual_appointments/cancelled", "updated_at,id"),
        ):
            self._sorted_listing(path, sort, version)

    def _filtered(self, request: Request, items: list[Any]) -> list[Any]:
        for flt in request.query_params.getlist("q[]"):
            field, _, rest = flt.partition(":")
            op = next((o for o in _OPS if rest.startswith(o)), None)
            if op is None:
                continue
            value = rest[len(op) :]
            items = [i for i in items if _matches(i, field, op, value)]
        sort = request.query_params.get("sort")
        if sort:
            fields = [f.partition(":")[0] for f in sort.split(",")]
            items.sort(key=_sort_key(fields))
        return items

    def _paged(self, request: Request, key: str, items: list[Any]) -> Response:
        per_page = min(int(request.query_params.get("per_page", 50)), self.max_per_page)
        page = int(request.query_params.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        base = f"{self.base_url}/{request.url.path.removeprefix('/v1').strip('/')}"
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]

        def link(number: int) -> str:
            from urllib.parse import urlencode

            return f"{base}?{urlencode([*params, ('page', str(number))])}"

        links = {"self": link(page)}
        if page * per_page < len(items):
            links["next"] = link(page + 1)
        if page > 1:
            links["previous"] = link(page - 1)
        # rendered under the lock (the records may change meanwhile), with orjson: the fake
        # serves a page in well under a millisecond, so it is not what a benchmark measures
        with self._lock:
            body = orjson.dumps({key: chunk, "total_entries": len(items), "links": links})
        return Response(body, media_type="application/json")

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/v1/{path:path}", self._handle, methods=["GET"])],
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeCliniko:
        self._loopback = LoopbackServer(self.app()).start()
        self.port = self._loopback.port
        return self

    def stop(self) -> None:
        if self._loopback is not None:
            self._loopback.stop()

    def __enter__(self) -> FakeCliniko:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LoopbackServer:
    """An ASGI app served by uvicorn on 127.0.0.1, on a free port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the loopback server did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # no wait for idle keep-alive connections
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _sort_key(fields: list[str]) -> Any:
    """The sort key of ``sort=a,b``: each field's text ("" for none). Two fields (the
    ``updated_at,id`` every sync asks for) without a generator per record: re-sorting a
    listing of 200,000 after a change is then a small part of an incremental sync."""
    if len(fields) == 2:
        first, second = fields

        def pair(i: Any) -> tuple[str, str]:
            if not isinstance(i, dict):
                return ("", "")
            a, b = i.get(first), i.get(second)
            return (str(a) if a else "", str(b) if b else "")

        return pair
    return lambda i: tuple(str(_get(i, f) or "") for f in fields)


def _get(item: Any, field: str) -> Any:
    return item.get(field) if isinstance(item, dict) else None


def _matches(item: Any, field: str, op: str, value: str) -> bool:
    if not isinstance(item, dict):
        return True  # malformed records are served whatever the filter
    have = item.get(field)
    if not have:
        return False
    have, value = str(have), str(value)
    return {
        ">": have > value,
        ">=": have >= value,
        "<": have < value,
        "<=": have <= value,
    }[op]
