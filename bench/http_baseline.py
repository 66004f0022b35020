"""HTTP baseline: requests per second and latency of two hot endpoints, on SQLite and on PostgreSQL.

For each engine the script makes a fresh database (a SQLite file in a temporary directory; a new PostgreSQL
database that it drops afterwards), migrates it and seeds the demo with the `fieldwork` CLI, starts ONE
`fieldwork serve` process on a free loopback port, logs in, and then drives it from a separate process (httpx
on asyncio, N concurrent keep-alive connections, a warm-up then a fixed measuring window):

  * GET  /api/jobs              as tech01@example.com (the technician's job list)
  * POST /api/service-requests  as dispatcher@example.com (intake; a new customer phone on every request)

It prints a markdown table and writes the full results as JSON to bench/results/ (gitignored).

    .venv/bin/python bench/http_baseline.py                      # both engines, 16 connections, 3 s + 15 s
    .venv/bin/python bench/http_baseline.py --engine sqlite --concurrency 8 --duration 30

Client, server (and PostgreSQL) share the machine's cores, so the figures are a baseline to compare
commits on the same machine, not a capacity estimate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432"
DEMO_PASSWORD = "fieldwork-demo"
TECHNICIAN = "tech01@example.com"
DISPATCHER = "dispatcher@example.com"
WORKER_FLAG = "--load-worker"  # internal: run as the load-generating process (config on stdin)
MAX_ERROR_SAMPLES = 5
NOISY_OTHER_CPU_PCT = 15.0  # above this, something else ran during a window: say so under the table

DESCRIPTIONS = (
    "Water leaking under the kitchen sink",
    "Boiler shows fault code E119, no heating",
    "Breaker keeps tripping in the kitchen",
    "Washing machine does not drain",
    "Lost keys, need the front door lock changed",
    "Strange noise and smell in the basement",
)


# --------------------------------------------------------------------------------------------------------
# The load-generating process
# --------------------------------------------------------------------------------------------------------


@dataclass
class LoadSpec:
    base_url: str
    endpoint: str  # "jobs" or "intake"
    token: str
    concurrency: int
    warmup_s: float
    duration_s: float
    timeout_s: float
    streets: list[str] = field(default_factory=list)  # intake addresses: keys of domain.demo.GAZETTEER
    server_pid: int | None = None
    measure_postgres_cpu: bool = False


@dataclass
class LoadResult:
    endpoint: str
    method: str
    path: str
    concurrency: int
    duration_s: float
    requests: int = 0
    ok: int = 0
    errors: int = 0  # any non-2xx response, or no response at all, inside the measuring window
    rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    mean_ms: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)  # inside the window; "exc:<Type>" for no response
    statuses_all: dict[str, int] = field(default_factory=dict)  # warm-up and drain included
    error_samples: list[dict[str, Any]] = field(default_factory=list)
    client_cpu_pct: float | None = None  # of one core, over the measuring window
    server_cpu_pct: float | None = None
    postgres_cpu_pct: float | None = None  # every local `postgres` process, whoever it serves
    machine_cpu_pct: float | None = None  # all cores together (at most 100 x cores)
    other_cpu_pct: float | None = None  # machine - server - client - postgres: anything else running


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def process_cpu_s(pid: int, command: str | None = None) -> float | None:
    """User + system CPU seconds of a process (all its threads), from /proc (Linux); None elsewhere.

    With `command`, None too when the process runs another program.
    """
    try:
        head, rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)
    except (OSError, ValueError):
        return None
    if command is not None and head.split("(", 1)[-1] != command:
        return None
    fields = rest.split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float | None:
    """CPU seconds the whole machine spent busy since boot (all cores), from /proc/stat."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    guest = sum(ticks[8:])  # guest time is already counted in user time
    return (sum(ticks) - idle - guest) / os.sysconf("SC_CLK_TCK")


def cpu_by_pid(command: str) -> dict[int, float]:
    """CPU seconds of every process running `command` (e.g. the PostgreSQL server and its backends)."""
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        seconds = process_cpu_s(int(entry.name), command)
        if seconds is not None:
            found[int(entry.name)] = seconds
    return found


def intake_body(streets: list[str], worker: int, seq: int) -> dict[str, Any]:
    street = streets[(worker + seq) % len(streets)]
    return {
        "channel": "phone",
        "description": DESCRIPTIONS[seq % len(DESCRIPTIONS)],
        "customer": {
            "name": f"Bench Customer {worker:02d}-{seq:06d}",
            # +33 69 ww ssssss: unique per request within a run, never one of the demo customers' numbers.
            "phone": f"+3369{worker:02d}{seq % 1_000_000:06d}",
        },
        "site": {"address": f"{1 + seq % 150} {street}, Lyon"},
    }


async def run_load(spec: LoadSpec) -> LoadResult:
    method, path = ("GET", "/api/jobs") if spec.endpoint == "jobs" else ("POST", "/api/service-requests")
    result = LoadResult(spec.endpoint, method, path, spec.concurrency, spec.duration_s)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    statuses_all: Counter[str] = Counter()
    samples: list[dict[str, Any]] = []
    # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds.
    start = time.perf_counter()
    window_start = start + spec.warmup_s
    window_end = window_start + spec.duration_s
    cpu_marks: dict[str, tuple[float, float | None, dict[int, float], float | None]] = {}

    async def mark(name: str, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        server = process_cpu_s(spec.server_pid) if spec.server_pid else None
        postgres = cpu_by_pid("postgres") if spec.measure_postgres_cpu else {}
        cpu_marks[name] = (time.process_time(), server, postgres, machine_busy_s())

    def sample(key: str, detail: str) -> None:
        if len(samples) < MAX_ERROR_SAMPLES and all(s["status"] != key for s in samples):
            samples.append({"status": key, "detail": detail[:800]})

    async def worker(client: httpx.AsyncClient, index: int) -> None:
        seq = 0
        while time.perf_counter() < window_end:
            sent = time.perf_counter()
            try:
                if method == "GET":
                    response = await client.get(path)
                else:
                    response = await client.post(path, json=intake_body(spec.streets, index, seq))
                key = str(response.status_code)
                detail = "" if response.is_success else response.text
            except httpx.HTTPError as exc:
                key, detail = f"exc:{type(exc).__name__}", repr(exc)
            seq += 1
            done = time.perf_counter()
            statuses_all[key] += 1
            if not key.startswith("2"):
                sample(key, detail)
            if window_start <= done <= window_end:  # completions inside the window
                statuses[key] += 1
                latencies.append((done - sent) * 1000)

    limits = httpx.Limits(max_connections=spec.concurrency, max_keepalive_connections=spec.concurrency)
    headers = {"Authorization": f"Bearer {spec.token}"}
    async with httpx.AsyncClient(
        base_url=spec.base_url, headers=headers, limits=limits, timeout=spec.timeout_s
    ) as client:
        await asyncio.gather(
            mark("start", window_start),
            mark("end", window_end),
            *(worker(client, i) for i in range(spec.concurrency)),
        )

    latencies.sort()
    result.requests = len(latencies)
    result.ok = sum(n for k, n in statuses.items() if k.startswith("2"))
    result.errors = result.requests - result.ok
    result.rps = result.requests / spec.duration_s
    result.p50_ms = percentile(latencies, 50)
    result.p90_ms = percentile(latencies, 90)
    result.p99_ms = percentile(latencies, 99)
    result.max_ms = latencies[-1] if latencies else 0.0
    result.mean_ms = sum(latencies) / len(latencies) if latencies else 0.0
    result.statuses = dict(sorted(statuses.items()))
    result.statuses_all = dict(sorted(statuses_all.items()))
    result.error_samples = samples
    (client_0, server_0, pg_0, all_0), (client_1, server_1, pg_1, all_1) = (
        cpu_marks["start"],
        cpu_marks["end"],
    )
    result.client_cpu_pct = 100 * (client_1 - client_0) / spec.duration_s
    if server_0 is not None and server_1 is not None:
        result.server_cpu_pct = 100 * (server_1 - server_0) / spec.duration_s
    if spec.measure_postgres_cpu:
        # Backends that started in the window count from zero; those that ended in it are lost.
        spent = sum(seconds - pg_0.get(pid, 0.0) for pid, seconds in pg_1.items())
        result.postgres_cpu_pct = 100 * spent / spec.duration_s
    if all_0 is not None and all_1 is not None:
        result.machine_cpu_pct = 100 * (all_1 - all_0) / spec.duration_s
        known = result.client_cpu_pct + (result.server_cpu_pct or 0) + (result.postgres_cpu_pct or 0)
        result.other_cpu_pct = max(0.0, result.machine_cpu_pct - known)
    return result


def load_worker_main() -> int:
    spec = LoadSpec(**json.load(sys.stdin))
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    result = asyncio.run(run_load(spec))
    json.dump(asdict(result), sys.stdout)
    return 0


# --------------------------------------------------------------------------------------------------------
# Orchestration: databases, the server process, the table
# --------------------------------------------------------------------------------------------------------


class BenchError(RuntimeError):
    pass


def fieldwork_cli() -> str:
    beside = Path(sys.executable).parent / "fieldwork"
    found = str(beside) if beside.exists() else shutil.which("fieldwork")
    if not found:
        raise BenchError("the `fieldwork` command is not installed; run `make bench` or `pip install -e .`")
    return found


def demo_streets() -> list[str]:
    """Every street the demo's offline geocoder knows, so intake geocodes without the network."""
    from domain.demo import GAZETTEER

    return sorted(GAZETTEER)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(
        [fieldwork_cli(), *args], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"`fieldwork {' '.join(args)}` failed:\n{done.stdout}{done.stderr}")


def serve_supports_log_level() -> bool:
    done = subprocess.run([fieldwork_cli(), "serve", "--help"], capture_output=True, text=True, check=False)
    return "--log-level" in done.stdout


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    log_level: str


@contextlib.contextmanager
def serving(database_url: str, workdir: Path) -> Iterator[Server]:
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "FIELDWORK_DATA_DIR": str(workdir / "data"),
    }
    args = [fieldwork_cli(), "serve"]
    log_level = "info (fieldwork serve has no --log-level; access log kept, written to a file)"
    if serve_supports_log_level():
        args += ["--log-level", "warning"]
        log_level = "warning"
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}", log_path, log_level)
    try:
        wait_healthy(server)
        yield server
    finally:
        stop(process)


def wait_healthy(server: Server, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(f"the server exited with {server.process.returncode}:\n{tail(server.log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base_url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise BenchError(f"the server was not healthy after {timeout_s:.0f} s:\n{tail(server.log_path)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def server_log_problems(path: Path) -> list[str]:
    """Lines of the server log that tell of a failure (tracebacks, errors), de-duplicated, in order."""
    seen: dict[str, int] = {}
    for line in path.read_text(errors="replace").splitlines():
        text = line.strip()
        if text.startswith(("ERROR", "CRITICAL", "Traceback")) or (
            ("Error" in text or "Exception" in text) and ":" in text and not text.startswith("INFO")
        ):
            seen[text[:300]] = seen.get(text[:300], 0) + 1
    return [f"{n}x {text}" for text, n in seen.items()]


def login(base_url: str, username: str) -> str:
    response = httpx.post(
        f"{base_url}/api/auth/token", json={"username": username, "password": DEMO_PASSWORD}, timeout=30
    )
    if response.status_code != 200:
        raise BenchError(f"login as {username} failed: {response.status_code} {response.text}")
    token: str = response.json()["access_token"]
    return token


def probe(base_url: str, token: str) -> dict[str, Any]:
    """One request of each kind before the load, to fail early and to record what a job list holds."""
    headers = {"Authorization": f"Bearer {token}"}
    jobs = httpx.get(f"{base_url}/api/jobs", headers=headers, timeout=30)
    if jobs.status_code != 200:
        raise BenchError(f"GET /api/jobs answered {jobs.status_code}: {jobs.text}")
    page = jobs.json()
    return {"jobs_total": page["total"], "jobs_per_page": len(page["items"]), "jobs_bytes": len(jobs.content)}


def probe_intake(base_url: str, token: str) -> None:
    response = httpx.post(
        f"{base_url}/api/service-requests",
        json=intake_body(demo_streets(), 99, 999_999),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if response.status_code != 201:
        raise BenchError(f"POST /api/service-requests answered {response.status_code}: {response.text}")


def run_worker(spec: LoadSpec) -> LoadResult:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), WORKER_FLAG],
        input=json.dumps(asdict(spec)),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"the load process failed:\n{done.stderr}")
    return LoadResult(**json.loads(done.stdout))


async def _postgres(admin_dsn: str, sql: str | None) -> str:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(admin_dsn, timeout=5)
    try:
        if sql is None:
            version: str = await conn.fetchval("SHOW server_version")
            return version
        await conn.execute(sql)
        return ""
    finally:
        await conn.close()


def postgres_version(base_url: str) -> str | None:
    try:
        return asyncio.run(_postgres(f"{base_url.rstrip('/')}/postgres", None))
    except Exception as exc:  # unreachable, refused, bad credentials: all mean "skip"
        print(f"PostgreSQL at {base_url} is unreachable ({type(exc).__name__}: {exc}); skipping it.")
        return None


@contextlib.contextmanager
def database(engine: str, postgres_url: str, workdir: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    name = f"fieldwork_bench_{uuid.uuid4().hex[:10]}"
    admin = f"{postgres_url.rstrip('/')}/postgres"
    asyncio.run(_postgres(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield f"{postgres_url.rstrip('/')}/{name}"
    finally:
        asyncio.run(_postgres(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def bench_engine(engine: str, args: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"fieldwork-bench-{engine}-") as tmp:
        workdir = Path(tmp)
        with database(engine, args.postgres_url, workdir) as url:
            env = os.environ | {"DATABASE_URL": url, "FIELDWORK_DATA_DIR": str(workdir / "data")}
            print(f"[{engine}] migrating and seeding", file=out, flush=True)
            run_cli(["db", "upgrade"], env, workdir)
            run_cli(["seed"], env, workdir)
            with serving(url, workdir) as server:
                print(
                    f"[{engine}] server pid {server.process.pid} on {server.base_url}", file=out, flush=True
                )
                tokens = {
                    "jobs": login(server.base_url, TECHNICIAN),
                    "intake": login(server.base_url, DISPATCHER),
                }
                context = probe(server.base_url, tokens["jobs"])
                probe_intake(server.base_url, tokens["intake"])
                results = []
                for endpoint in ("jobs", "intake"):
                    print(
                        f"[{engine}] {endpoint}: {args.concurrency} connections, "
                        f"{args.warmup:g} s warm-up + {args.duration:g} s",
                        file=out,
                        flush=True,
                    )
                    spec = LoadSpec(
                        base_url=server.base_url,
                        endpoint=endpoint,
                        token=tokens[endpoint],
                        concurrency=args.concurrency,
                        warmup_s=args.warmup,
                        duration_s=args.duration,
                        timeout_s=args.timeout,
                        streets=demo_streets(),
                        server_pid=server.process.pid,
                        measure_postgres_cpu=engine == "postgres",
                    )
                    results.append(asdict(run_worker(spec)))
                log_level = server.log_level
            problems = server_log_problems(server.log_path)
            if problems and args.keep_logs:
                kept = args.results_dir / f"server-{engine}-{time.strftime('%Y%m%dT%H%M%S')}.log"
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(server.log_path, kept)
    return {
        "engine": engine,
        "server_log_level": log_level,
        "context": context,
        "results": results,
        "server_log_problems": problems[:50],
    }


def machine() -> dict[str, Any]:
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in (
        "litestar",
        "uvicorn",
        "sqlalchemy",
        "aiosqlite",
        "asyncpg",
        "httpx",
        "uvloop",
        "httptools",
    ):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    load = ""
    with contextlib.suppress(OSError):
        load = Path("/proc/loadavg").read_text().strip()
    return {
        "cpus": os.cpu_count(),
        "loadavg_at_end": load,
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
    }


def source_state() -> dict[str, Any]:
    """The commit measured, and which files differed from it (the figures are of the work tree)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout if done.returncode == 0 else ""

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line[3:]]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "uncommitted_changes": changed}


def table(runs: list[dict[str, Any]]) -> str:
    rows = [
        "| Engine | Endpoint | Requests | Req/s | p50 ms | p99 ms | Errors (non-2xx) "
        "| Server CPU | PostgreSQL CPU | Client CPU | Other CPU |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for run in runs:
        for r in run["results"]:
            version = run.get("server_version", "").split(" ")[0]
            label = f"{run['engine']} {version}".strip()
            rows.append(
                f"| {label} | `{r['method']} {r['path']}` | {r['requests']} | {r['rps']:.1f} "
                f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} "
                f"| {_pct(r['server_cpu_pct'])} | {_pct(r['postgres_cpu_pct'])} "
                f"| {_pct(r['client_cpu_pct'])} | {_pct(r['other_cpu_pct'])} |"
            )
    return "\n".join(rows)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} %"


def problems_report(runs: list[dict[str, Any]]) -> list[str]:
    lines = []
    for run in runs:
        for r in run["results"]:
            if r["errors"] or any(not k.startswith("2") for k in r["statuses_all"]):
                lines.append(
                    f"{run['engine']} {r['method']} {r['path']}: {r['errors']} of {r['requests']} "
                    f"in the window not 2xx; statuses in the window {r['statuses']}, "
                    f"over the whole run (warm-up and drain too) {r['statuses_all']}"
                )
                lines += [f"    sample {s['status']}: {s['detail']}" for s in r["error_samples"]]
        if run["server_log_problems"]:
            lines.append(f"{run['engine']} server log:")
            lines += [f"    {p}" for p in run["server_log_problems"][:15]]
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--duration", type=float, default=15.0, help="measuring window, seconds (default 15)")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="warm-up before the window, seconds (default 3)"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="per-request timeout, seconds (default 30)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="PostgreSQL server URL without a database name; a fresh database is made there and dropped "
        f"afterwards (default {DEFAULT_POSTGRES_URL}, or BENCH_POSTGRES_URL)",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON results go")
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="copy the server log to the results directory when it shows errors",
    )
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--concurrency must be >= 1, --duration > 0 and --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    runs: list[dict[str, Any]] = []
    started = dt.datetime.now(dt.UTC)
    for engine in engines:
        server_version = None
        if engine == "postgres":
            server_version = postgres_version(args.postgres_url)
            if server_version is None:
                continue
        try:
            run = bench_engine(engine, args, sys.stderr)
        except BenchError as exc:
            print(f"[{engine}] FAILED: {exc}", file=sys.stderr)
            return 1
        if server_version:
            run["server_version"] = server_version
        runs.append(run)
    if not runs:
        print("nothing was measured", file=sys.stderr)
        return 1

    report: dict[str, Any] = {
        "benchmark": "http_baseline",
        "started_at": started.isoformat(timespec="seconds"),
        "command": " ".join(
            ["python", "bench/http_baseline.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "settings": {
            "concurrency": args.concurrency,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "timeout_s": args.timeout,
            "technician": TECHNICIAN,
            "dispatcher": DISPATCHER,
        },
        "machine": machine(),
        "source": source_state(),
        "runs": runs,
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"http_baseline-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")

    print()
    print(table(runs))
    print()
    print(
        f"{args.concurrency} connections, {args.warmup:g} s warm-up, {args.duration:g} s window; "
        f"{report['machine']['cpus']} CPUs shared by the load process, the server"
        + (" and PostgreSQL" if any(r["engine"] == "postgres" for r in runs) else "")
        + ". CPU % is of one core."
    )
    lines = problems_report(runs)
    if lines:
        print("\nProblems observed:")
        print("\n".join(lines))
    noisy = [
        f"{run['engine']} {r['method']} {r['path']}: {r['other_cpu_pct']:.0f} %"
        for run in runs
        for r in run["results"]
        if (r["other_cpu_pct"] or 0) > NOISY_OTHER_CPU_PCT
    ]
    if noisy:
        print(
            "\nWarning: other processes used CPU during the window (of one core), the figures are disturbed:"
        )
        print("\n".join(f"    {line}" for line in noisy))
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == WORKER_FLAG:
        raise SystemExit(load_worker_main())
    raise SystemExit(main())
