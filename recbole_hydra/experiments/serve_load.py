"""HTTP load for the serving benchmark (aiohttp's async client), to one server on 127.0.0.1: every request is "event in,
top-10 out", `POST /events?k=10` with one event of a random user and item, timed from the client.

  closed loop   C clients, each sending its next request when the last one returns: the throughput
                (QPS) the server sustains at that concurrency, and its latency there;
  open loop     requests started on a fixed schedule (R per second) whatever the replies do; latency
                counts from the scheduled start, so a server that falls behind shows it (no
                coordinated omission).
Both stop by themselves: after `seconds` or `max_requests`, each request with a timeout.

Why aiohttp and not httpx: the generator shares the server's two CPUs, so its own cost per request
is part of what is measured. Against one server, httpx 0.29's async pool topped out near 200 GET
/health per second at 16 clients (p99 ~400 ms) where aiohttp made ~1,500 (p99 18 ms): the first
serve-bench table measured httpx, not the server (docs/serving.md).
"""

import asyncio
import math
import random
import time

import aiohttp

TIMEOUT = 10.0  # seconds per request


def percentile(values, q):
    """The q-th percentile (0-100) of `values`, nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(latencies, errors, elapsed):
    """One row's measurements: requests, errors, QPS, p50 and p99 in ms."""
    return {
        "requests": len(latencies) + errors,
        "errors": errors,
        "qps": round(len(latencies) / elapsed, 1) if elapsed else None,
        "p50_ms": None if not latencies else round(1e3 * percentile(latencies, 50), 2),
        "p99_ms": None if not latencies else round(1e3 * percentile(latencies, 99), 2),
    }


class Load:
    def __init__(self, url, users, items, k=10, seed=0):
        self.url, self.users, self.items, self.k = url, list(users), list(items), k
        self.random = random.Random(seed)

    def _client(self, connections):
        connector = aiohttp.TCPConnector(limit=connections)
        return aiohttp.ClientSession(self.url, connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT))

    def _event(self):
        return {"user": self.random.choice(self.users), "item": self.random.choice(self.items)}

    async def _one(self, client):
        """True if the request succeeded with top-k recommendations."""
        try:
            async with client.post("/events", params={"k": self.k}, json=self._event()) as reply:
                await reply.read()
                return reply.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False

    async def preload(self, length, batch=2000):
        """Give every user `length` events (random items), in requests of up to `batch` events."""
        events = [{"user": user, "item": self.random.choice(self.items)} for _ in range(length) for user in self.users]
        async with self._client(1) as client:
            for start in range(0, len(events), batch):
                timeout = aiohttp.ClientTimeout(total=600)
                async with client.post("/events", json=events[start : start + batch], timeout=timeout) as reply:
                    if reply.status != 200:
                        raise RuntimeError(f"preload: POST /events answered {reply.status}: {await reply.text()}")

    async def closed_loop(self, concurrency, seconds, max_requests):
        latencies, errors = [], [0]
        deadline = time.perf_counter() + seconds

        async def worker(client):
            while time.perf_counter() < deadline and len(latencies) + errors[0] < max_requests:
                start = time.perf_counter()
                if await self._one(client):
                    latencies.append(time.perf_counter() - start)
                else:
                    errors[0] += 1

        async with self._client(concurrency) as client:
            begin = time.perf_counter()
            await asyncio.gather(*(worker(client) for _ in range(concurrency)))
            return summary(latencies, errors[0], time.perf_counter() - begin)

    async def open_loop(self, rate, seconds, max_requests, connections=256):
        latencies, errors = [], [0]
        count = min(max_requests, int(rate * seconds))

        async def timed(client, due):
            if await self._one(client):
                latencies.append(time.perf_counter() - due)  # from the scheduled start
            else:
                errors[0] += 1

        async with self._client(connections) as client:
            begin, tasks = time.perf_counter(), []
            for n in range(count):
                due = begin + n / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                tasks.append(asyncio.create_task(timed(client, due)))
            await asyncio.gather(*tasks)
            return summary(latencies, errors[0], time.perf_counter() - begin)
