"""What the benchmarks share: a server process on loopback, a concurrent HTTP load, percentiles."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from service.devdeps import ensure_package


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: Sequence[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def serve(
    url: str,
    workers: int = 1,
    pool_size: int = 20,
    extra_env: dict[str, str] | None = None,
    meili: bool = False,
) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m service serve` on a free loopback port; returns it once /health answers.
    Meilisearch serves only when `meili` (and YOUTHLINK_MEILI_URL is set)."""
    port = free_port()
    env = {
        **os.environ,
        "YOUTHLINK_DATABASE_URL": url,
        "YOUTHLINK_DB_POOL_SIZE": str(pool_size),
        "YOUTHLINK_LOG_LEVEL": "WARNING",
        "YOUTHLINK_RATE_LIMITS_ENABLED": "false",
        **(extra_env or {}),
    }
    if not meili:
        env.pop("YOUTHLINK_MEILI_URL", None)
    command = [sys.executable, "-m", "service", "serve", "--port", str(port)]
    server = subprocess.Popen([*command, "--workers", str(workers)], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                return server, base
        except httpx.TransportError:
            if time.monotonic() > deadline:
                server.terminate()
                raise
            time.sleep(0.3)


async def drive(base: str, paths: list[str], concurrency: int) -> tuple[list[float], float, int]:
    """GET every path with `concurrency` clients; latencies (ms), seconds, non-200 count."""
    latencies: list[float] = []
    errors = 0
    queue = list(paths)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while queue:
            path = queue.pop()
            t0 = time.perf_counter()
            response = await client.get(path)
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += response.status_code != 200

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return latencies, time.perf_counter() - started, errors


@contextmanager
def api_processes(url: str, count: int = 2) -> Iterator[list[str]]:
    """`count` API processes of one worker each on `url`, each ready (its index built);
    their base URLs. Stopped when the block ends."""
    started = [serve(url, workers=1, pool_size=4) for _ in range(count)]
    try:
        for _, base in started:
            wait_ready(base, in_a_row=1)
        yield [base for _, base in started]
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(timeout=20)


def wait_ready(base: str, within_s: float = 600, in_a_row: int = 20) -> float:
    """Seconds until /ready answers 200 `in_a_row` times on fresh connections (every
    worker process has built its search index); raises after `within_s`."""
    started = time.monotonic()
    streak = 0
    while streak < in_a_row:
        try:
            ok = httpx.get(f"{base}/ready", timeout=10).status_code == 200
        except httpx.TransportError:
            ok = False
        streak = streak + 1 if ok else 0
        if time.monotonic() - started > within_s:
            raise TimeoutError(f"{base}/ready not ready within {within_s} s")
        if not ok:
            time.sleep(0.2)
    return time.monotonic() - started


def wait_quiet(server_pid: int, within_s: float = 600, window_s: float = 2.0) -> float:
    """Seconds until the server's workers used under a tenth of a core over `window_s`.
    /ready answering 200 on fresh connections shows only the workers that accepted them:
    one still building its index would otherwise take a core from the measurement."""
    started = time.monotonic()
    while True:
        before = cpu_of(server_pid)["workers"]
        time.sleep(window_s)
        if cpu_of(server_pid)["workers"] - before < 0.1 * window_s:
            return time.monotonic() - started
        if time.monotonic() - started > within_s:
            raise TimeoutError(f"the workers were still busy after {within_s} s")


def rss_mb(pid: int) -> dict[int, float]:
    """Resident memory (MB) of `pid`'s child processes (the uvicorn workers), by pid."""
    out = {}
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out[int(child)] = int(line.split()[1]) / 1024
    return out


def machine_speed_ms() -> float:
    """How long a fixed pure-Python loop takes here now (ms; lower is faster). The
    machines these run on are shared: the same code's throughput moves with this figure
    from one minute to the next, so benchmarks print it beside their own."""
    started = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i * i
    return (time.perf_counter() - started) * 1000


def _cpu_s(pid: str) -> float:
    """User + system CPU seconds of one process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the server's workers (the children of `server_pid`) and
    by every PostgreSQL process on this machine (the benchmark is its only client)."""
    workers = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    postgres = 0.0
    for pid in (p.name for p in Path("/proc").iterdir() if p.name.isdigit()):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "postgres":
                postgres += _cpu_s(pid)
        except OSError:  # ended meanwhile
            continue
    return {"workers": sum(_cpu_s(w) for w in workers), "postgres": postgres}


WRK_SCRIPT = """
local paths, counter = {}, 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  counter = math.random(#paths)
end
request = function()
  counter = counter % #paths + 1
  return wrk.format("GET", paths[counter])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %.3f %.3f %.3f %.3f\\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.duration / 1e6))
end
"""


@dataclass
class Load:
    requests: int
    bad_status: int  # answers that were not 2xx or 3xx
    socket_errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk(base: str, paths: Sequence[str], connections: int, seconds: float) -> Load:
    """Drive GET `paths` (in turn, from a random start per thread) with wrk: a C load
    generator, light enough to share the cores with the server."""
    ensure_package("wrk", lambda: shutil.which("wrk") is not None, "the benchmarks")
    with tempfile.TemporaryDirectory() as tmp:
        script, listing = Path(tmp, "mix.lua"), Path(tmp, "paths.txt")
        script.write_text(WRK_SCRIPT)
        listing.write_text("\n".join(paths) + "\n")
        done = subprocess.run(
            [
                "wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                "--timeout", "10s",
                "-s", str(script), base, "--", str(listing),
            ],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))
    n, bad, errors, p50, p95, p99, duration = line.split()[1:]
    return Load(int(n), int(bad), int(errors), float(p50), float(p95), float(p99), float(duration))
