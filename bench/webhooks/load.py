"""Open-loop HTTP load: requests sent at a constant rate, whatever the server does.

    python bench/webhooks/load.py REQUESTS.jsonl --port P --rate 200 --out RESULT.json

Each line of REQUESTS.jsonl is ``{"method", "path", "headers", "body"}`` (body as text).
Request i is due at ``start + i / rate``; its latency is measured from that due time to the
end of its response, so a server stall shows in the figures of every request it delayed
(no coordinated omission), and so does a late client. Keep-alive HTTP/1.1 connections over
asyncio streams (uvloop when installed): a new connection is opened when every open one is
busy. The result file holds every latency (ms), status and the sent index.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time


class Pool:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0

    async def get(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle:
            return self.idle.pop()
        return await self.get_new()

    async def get_new(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.opened += 1
        return await asyncio.open_connection(self.host, self.port)

    def put(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.idle.append(conn)


async def request(pool: Pool, raw: bytes) -> tuple[int, bytes]:
    reused = bool(pool.idle)
    reader, writer = await pool.get()
    try:
        return await _exchange(pool, reader, writer, raw)
    except (asyncio.IncompleteReadError, ConnectionError):
        if not reused:
            raise
    # the server closed an idle keep-alive connection: once more on a new one (as clients do)
    reader, writer = await pool.get_new()
    return await _exchange(pool, reader, writer, raw)


async def _exchange(
    pool: Pool, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bytes]:
    try:
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        body = await reader.readexactly(length) if length else b""
    except BaseException:
        writer.close()
        raise
    pool.put((reader, writer))
    return status, body


def encode(item: dict, host: str) -> bytes:
    body = item.get("body", "").encode()
    head = [f"{item.get('method', 'POST')} {item['path']} HTTP/1.1", f"Host: {host}"]
    head += [f"{k}: {v}" for k, v in item.get("headers", {}).items()]
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def run(items: list[bytes], *, port: int, rate: float, warm: int) -> dict:
    pool = Pool("127.0.0.1", port)
    # open a few connections up front (the server's accept is not what is measured)
    conns = [await pool.get() for _ in range(warm)]
    for conn in conns:
        pool.put(conn)
    loop = asyncio.get_running_loop()
    latencies: list[float | None] = [None] * len(items)
    statuses: list[int] = [0] * len(items)
    bodies: list[str] = [""] * len(items)
    errors: list[str] = []

    async def one(i: int, due: float) -> None:
        try:
            status, body = await request(pool, items[i])
        except Exception as exc:  # counted, the run goes on
            errors.append(f"{i}: {type(exc).__name__}: {exc}"[:200])
            return
        latencies[i] = (loop.time() - due) * 1000
        statuses[i] = status
        bodies[i] = body.decode(errors="replace")[:300]

    tasks = []
    start = loop.time() + 0.2
    late = 0.0
    for i in range(len(items)):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late = max(late, -delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    seconds = loop.time() - start
    return {
        "requests": len(items),
        "rate": rate,
        "seconds": seconds,
        "latencies_ms": latencies,
        "statuses": statuses,
        "bodies": bodies,
        "errors": errors,
        "connections": pool.opened,
        "client_max_late_ms": late * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("requests")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--warm", type=int, default=8)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.requests) as f:
        items = [encode(json.loads(line), f"127.0.0.1:{args.port}") for line in f]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    started = time.time()
    result = asyncio.run(run(items, port=args.port, rate=args.rate, warm=args.warm))
    result["started_at"] = started
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
