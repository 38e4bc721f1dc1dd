"""Load benchmark of the operator API over 10,000 stored jobs, 5,000 of them unfinished.

Scenarios: signed GET /compute (one job, as the provider polls), signed POST /compute,
GET /runningjobs (all 5,000 unfinished jobs), GET /environments (with 5,000 and, last, with
50,000 unfinished jobs), and GET /compute with SIGNATURE_REQUIRED=0 to show what provider auth
costs. Signed requests carry a fresh nonce and a real signature each (one allowed provider).

One server (`serve`: the real app factory and listener on a real PostgreSQL; `--workers N` runs
N of them on one port, as `operator-argo serve --workers N` does) and one load generator (`wrk`,
one thread, a Lua script feeding pre-signed requests, so the generator does no cryptography
while measuring). Each scenario runs 3 times; medians are reported, with the CPU time each
process group used per request and the server's RSS growth.

    python bench/api_load.py                 # embedded PostgreSQL under a temporary directory
    python bench/api_load.py --profile out   # also write a cProfile of the server per scenario
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import datetime as dt
import itertools
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import coincurve
import psutil
import psycopg
from aiohttp import web
from eth_utils.crypto import keccak

from operator_argo.api import create_api
from operator_argo.api.listener import listening
from operator_argo.app import event_loop_factory
from operator_argo.auth.policy import ProviderAuth
from operator_argo.auth.signatures import ensure_fast_backend, keep_sane_recursion_limit
from operator_argo.config import Settings
from operator_argo.domain.caller import NonceClaim
from operator_argo.domain.environment import Environment
from operator_argo.domain.job import Address, Job, JobFilter, JobId, NewJob
from operator_argo.domain.names import WORKFLOW_PREFIX
from operator_argo.domain.status import JobStatus
from operator_argo.observability.logging import configure_logging
from operator_argo.service.jobs import JobService
from operator_argo.store.database import Database
from operator_argo.store.embedded import start_server as start_pg
from operator_argo.store.embedded import stop_server as stop_pg
from operator_argo.store.jobs import PostgresJobStore
from operator_argo.store.migrate import migrate
from operator_argo.wire.stage import parse_workflow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tests/data/ocean/examples/POST-compute.request.provider-v2.1.6.raw-algo.json"
PREFIX = "/api/v1/operator"
JOBS = 10_000
FINISHED = 5_000  # of JOBS; the others are unfinished
STARTED = 50  # unfinished jobs that were admitted (the environment's maxJobs): currentJobs
OWNERS = 100
RUNS = 3
SECONDS = 8
ENVIRONMENT = "ocean-compute"


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One load: what is requested, over how many connections, with signatures or not, and how
    many unfinished jobs the store holds (grown to that before the scenario runs)."""

    kind: str  # status (signed GET /compute), start (POST /compute), running, environments
    connections: int
    signed: bool = True
    unfinished: int = JOBS - FINISHED

    @property
    def name(self) -> str:
        what = {
            "status": "GET /compute",
            "start": "POST /compute",
            "running": "GET /runningjobs",
            "environments": "GET /environments",
        }[self.kind]
        name = f"{what} c={self.connections}"
        if self.kind in ("status", "start") and not self.signed:
            name += " unsigned"
        if self.unfinished != JOBS - FINISHED:
            name += f" ({self.unfinished} unfinished)"
        return name


SCENARIOS = [
    Scenario("status", 16),
    Scenario("status", 64),
    Scenario("start", 16),
    Scenario("start", 64),
    Scenario("status", 16, signed=False),
    Scenario("running", 16),
    Scenario("environments", 16),
    Scenario("environments", 16, unfinished=50_000),  # last: it grows the store
]
_nonces = itertools.count(time.time_ns())

LUA = r"""
local lines, i, method, headers = {}, 0, "GET", {}
init = function(args)
  method = args[2]
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
  headers["Content-Type"] = "application/json"
end
request = function()
  i = i + 1
  local line = lines[((i - 1) % #lines) + 1]
  if method == "GET" then return wrk.format("GET", line) end
  return wrk.format("POST", "/api/v1/operator/compute", headers, line)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, '
    .. '"socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def sign(message: str, key: coincurve.PrivateKey) -> str:
    """A provider signature (65 bytes, v 27/28) of `message`, the contract's scheme."""
    digest = keccak(b"\x19Ethereum Signed Message:\n32" + keccak(text=message))
    raw = key.sign_recoverable(digest, hasher=None)
    return "0x" + raw[:64].hex() + format(raw[64] + 27, "02x")


def address(key: coincurve.PrivateKey) -> str:
    return "0x" + keccak(key.public_key.format(compressed=False)[1:])[-20:].hex()


# --- server process ---------------------------------------------------------------------------


class MemoryStore:
    """Diagnosis only (`--store memory`): the job-store calls the API makes, in a dict, to measure
    the HTTP, auth and rendering layers without the database round trips."""

    def __init__(self, jobs: list[tuple[str, str]]) -> None:
        spec = parse_workflow(json.loads(EXAMPLE.read_text())["workflow"])
        self.jobs: dict[str, Job] = {}
        self.by_agreement: dict[str, Job] = {}
        self.nonces: set[tuple[str, int]] = set()
        for owner, job_id in jobs:
            new = NewJob(
                job_id=JobId(job_id),
                owner=Address(owner),
                agreement_id=job_id,
                environment=ENVIRONMENT,
                spec=spec,
            )
            self.jobs[job_id] = self.by_agreement[job_id] = self._job(new)

    @staticmethod
    def _job(new: NewJob) -> Job:
        fields = {field.name: getattr(new, field.name) for field in dataclasses.fields(new)}
        return Job(status=JobStatus.QUEUED, date_created=dt.datetime.now(dt.UTC), **fields)

    def _spend(self, claim: NonceClaim | None) -> None:
        if claim is None:
            return
        if (claim.signer, claim.nonce) in self.nonces:
            raise claim.refused()
        self.nonces.add((claim.signer, claim.nonce))

    async def find_jobs(self, flt: JobFilter, *, claim: NonceClaim | None = None) -> list[Job]:
        self._spend(claim)
        if flt.job_id is not None:
            candidates = [self.jobs[flt.job_id]] if flt.job_id in self.jobs else []
        elif flt.agreement_id is not None:
            found = self.by_agreement.get(flt.agreement_id)
            candidates = [] if found is None else [found]
        else:
            candidates = list(self.jobs.values())
        return [
            job
            for job in candidates
            if (flt.owner is None or job.owner.lower() == flt.owner.lower())
            and (flt.agreement_id is None or job.agreement_id == flt.agreement_id)
        ]

    async def insert_job(self, new: NewJob, *, claim: NonceClaim | None = None) -> Job:
        self._spend(claim)
        job = self.jobs[new.job_id] = self.by_agreement[new.agreement_id] = self._job(new)
        return job

    async def ping(self) -> None:
        return None


def serve(args: argparse.Namespace) -> None:
    """Run the real API (app factory, PostgreSQL store, provider auth) until SIGTERM."""
    ensure_fast_backend()
    settings = Settings(
        postgres_host=args.pg_host,
        postgres_port=args.pg_port,
        postgres_db=args.pg_db,
        postgres_user="postgres",
        environments=(Environment(id=ENVIRONMENT, namespace=ENVIRONMENT, max_jobs=STARTED),),
        signature_required=bool(args.provider),
        allowed_providers=frozenset({args.provider.lower()} if args.provider else ()),
        pool_min_size=4,
        pool_max_size=10,
        log_format="json",  # as deployed by the chart
        port=args.port,
        workers=args.workers,  # above 1: one of several processes on the port (SO_REUSEPORT)
        event_loop=os.environ.get("OPERATOR_EVENT_LOOP", "auto"),
    )
    configure_logging(settings)

    async def make_app() -> web.Application:
        keep_sane_recursion_limit()
        if args.memory_jobs:
            memory = MemoryStore(json.loads(Path(args.memory_jobs).read_text()))
            auth = ProviderAuth(settings)
            service = JobService(settings, memory, None, None, auth=auth)  # type: ignore[arg-type]
            return create_api(settings, service, ready=memory.ping)
        database = Database.from_settings(settings)
        await database.open()
        store = PostgresJobStore(database, nonce_window=settings.nonce_window)
        service = JobService(settings, store, None, None, auth=ProviderAuth(settings))
        app = create_api(settings, service, ready=store.ping)

        async def close(_: web.Application) -> None:
            await database.close()

        app.on_cleanup.append(close)
        return app

    async def run() -> None:
        app = await make_app()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        async with listening(app, settings):
            await stop.wait()

    # CPU time, not wall time: on a shared machine wall time counts other processes too.
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    if profiler is not None:
        profiler.enable()
    try:
        # The loop and listener `operator-argo serve` runs on.
        with asyncio.Runner(loop_factory=event_loop_factory(settings)) as runner:
            runner.run(run())
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)


# --- orchestration ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed(conninfo: str) -> list[tuple[str, str]]:
    """10,000 jobs of 100 owners: 5,000 finished (with a results list), 50 running, the rest
    queued; returns their (owner, jobId)."""
    spec = parse_workflow(json.loads(EXAMPLE.read_text())["workflow"])
    database = Database(conninfo, min_size=4, max_size=8)
    await database.open()
    await migrate(database)
    store = PostgresJobStore(database)
    owners = [f"0x{i:040x}" for i in range(1, OWNERS + 1)]
    jobs = [(owners[i % OWNERS], uuid.uuid4().hex) for i in range(JOBS)]
    for start in range(0, JOBS, 200):
        batch = [
            NewJob(
                job_id=JobId(job_id),
                owner=Address(owner),
                agreement_id=f"0x{uuid.uuid4().hex}",
                environment=ENVIRONMENT,
                spec=spec,
            )
            for owner, job_id in jobs[start : start + 200]
        ]
        await asyncio.gather(*(store.insert_job(job) for job in batch))
    async with database.connection() as conn:
        finished = [job_id for _, job_id in jobs[:FINISHED]]
        started = [job_id for _, job_id in jobs[-STARTED:]]
        await conn.execute(_FINISH, {"ids": finished, "prefix": WORKFLOW_PREFIX})
        await conn.execute(_START, {"ids": started, "prefix": WORKFLOW_PREFIX})
        await conn.execute("VACUUM ANALYZE jobs")
    await database.close()
    return jobs


_FINISH = """
UPDATE jobs SET status = 70, date_finished = now(), submitted_at = now(),
    workflow_name = %(prefix)s || job_id,
    results = '[{"filename": "out.txt", "filesize": 12, "type": "output", "key": "k"},
                {"filename": "algorithm.log", "filesize": 30, "type": "algorithmLog", "key": "l"}]'
WHERE job_id = ANY(%(ids)s)
"""
_START = """
UPDATE jobs SET status = 40, submitted_at = now(), workflow_name = %(prefix)s || job_id,
    algorithm_started_at = now()
WHERE job_id = ANY(%(ids)s)
"""
# The newest queued jobs (those POST scenarios added; the seeded ones are older) removed.
_TRIM = """
DELETE FROM jobs WHERE job_id IN (
    SELECT job_id FROM jobs WHERE status = 1 AND submitted_at IS NULL
    ORDER BY date_created DESC, seq DESC LIMIT %(n)s
)
"""
# More queued jobs, copies of one stored job (the environments scenario at 50,000 unfinished).
_GROW = """
INSERT INTO jobs (job_id, owner, agreement_id, environment, status, spec)
SELECT md5(random()::text || g), owner, md5(random()::text || g), environment, 1, spec
FROM (SELECT * FROM jobs WHERE status = 1 LIMIT 1) AS template, generate_series(1, %(n)s) AS g
"""


async def grow(conninfo: str, unfinished: int) -> None:
    """Add or remove queued jobs until the store holds `unfinished` unfinished jobs: the jobs a
    POST scenario queued go again, so a later listing lists the scenario's count."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        cur = await conn.execute("SELECT count(*) FROM jobs WHERE status NOT IN (31, 32, 70)")
        row = await cur.fetchone()
        missing = unfinished - (row[0] if row else 0)
        if missing > 0:
            await conn.execute(_GROW, {"n": missing})
        elif missing < 0:
            await conn.execute(_TRIM, {"n": -missing})
        if missing:
            await conn.execute("VACUUM ANALYZE jobs")


def get_lines(jobs: list[tuple[str, str]], key: coincurve.PrivateKey, count: int) -> list[str]:
    lines = []
    for owner, job_id in random.choices(jobs, k=count):
        nonce = next(_nonces)
        signature = sign(owner + job_id + str(nonce), key)
        lines.append(
            f"{PREFIX}/compute?owner={owner}&jobId={job_id}&nonce={nonce}"
            f"&providerSignature={signature}"
        )
    return lines


def post_lines(key: coincurve.PrivateKey, count: int) -> list[str]:
    body = json.loads(EXAMPLE.read_text())
    body.pop("_comment")
    body["validUntil"] = int(time.time()) + 86_400  # the example's order has expired (preflight)
    lines = []
    for _ in range(count):
        nonce = next(_nonces)
        body["agreementId"] = "0x" + uuid.uuid4().hex * 2
        body["nonce"] = nonce
        body["providerSignature"] = sign(body["owner"] + str(nonce), key)
        lines.append(json.dumps(body))
    return lines


def scenario_lines(
    scenario: Scenario, jobs: list[tuple[str, str]], key: coincurve.PrivateKey, seconds: int
) -> list[str]:
    """wrk's request lines: fresh nonces for signed calls, one path for the open listings."""
    if scenario.kind == "status":
        return get_lines(jobs, key, 5000 * seconds)
    if scenario.kind == "start":
        return post_lines(key, 2500 * seconds)
    return [f"{PREFIX}/{'runningjobs' if scenario.kind == 'running' else 'environments'}"]


def rss_bytes(processes: list[psutil.Process]) -> int:
    """Resident memory of these processes together; gone ones count as 0."""
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """CPU time (user + system) used so far by these processes; gone ones count as 0."""
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def postgres_processes(postmaster_pid: int) -> list[psutil.Process]:
    postmaster = psutil.Process(postmaster_pid)
    return [postmaster, *postmaster.children(recursive=True)]


def run_wrk(
    port: int,
    method: str,
    lines: list[str],
    connections: int,
    work: Path,
    seconds: int,
    watched: dict[str, list[psutil.Process]],
) -> dict[str, Any]:
    """One wrk run; with the CPU time each watched group of processes used per request."""
    data = work / "lines.txt"
    data.write_text("\n".join(lines) + "\n")
    script = work / "feed.lua"
    script.write_text(LUA)
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
        "-s", str(script), f"http://127.0.0.1:{port}", "--", str(data), method,
    ]  # fmt: skip
    before = {name: cpu_seconds(group) for name, group in watched.items()}
    rss_before = rss_bytes(watched["server"])
    rss_peak = rss_before
    load_before = os.getloadavg()[0]
    wrk = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    wrk_process = psutil.Process(wrk.pid)
    wrk_cpu = 0.0
    with contextlib.suppress(psutil.Error):
        while wrk.poll() is None:  # wrk's own CPU, read just before it exits
            wrk_cpu = cpu_seconds([wrk_process])
            rss_peak = max(rss_peak, rss_bytes(watched["server"]))
            time.sleep(0.1)
    output, _ = wrk.communicate()
    if wrk.returncode:
        raise RuntimeError(f"wrk failed ({wrk.returncode})")
    line = next(item for item in output.splitlines() if item.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[len("RESULT ") :])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    requests = max(1, result["requests"])
    for name, group in watched.items():
        used = cpu_seconds(group) - before[name]
        result[f"{name}_cpu_us_per_request"] = round(1e6 * used / requests, 1)
    result["wrk_cpu_us_per_request"] = round(1e6 * wrk_cpu / requests, 1)
    result["server_rss_mib_before"] = round(rss_before / 2**20, 1)
    result["server_rss_growth_mib"] = round((rss_peak - rss_before) / 2**20, 1)
    result["load_average"] = [load_before, os.getloadavg()[0]]
    if result["requests"] > len(lines):
        result["note"] = "request lines reused: replays counted as non-2xx"
    return result


def start_server(
    port: int,
    pg: dict[str, Any],
    provider: str,
    profile: str | None,
    memory_jobs: str | None,
    workers: int = 1,
) -> list[subprocess.Popen[bytes]]:
    command = [
        sys.executable, __file__, "serve", "--port", str(port), "--pg-host", pg["host"],
        "--pg-port", str(pg["port"]), "--pg-db", pg["db"], "--provider", provider,
        "--workers", str(workers),
    ]  # fmt: skip
    if memory_jobs:
        command += ["--memory-jobs", memory_jobs]
    log = open(pg["log"], "a")  # noqa: SIM115 - lives as long as the server
    processes = [
        subprocess.Popen(
            command + (["--profile", f"{profile}.{index}"] if profile else []),
            stdout=log,
            stderr=log,
            cwd=ROOT,
        )
        for index in range(workers)
    ]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return processes
        time.sleep(0.2)
    for process in processes:
        process.kill()
    raise RuntimeError("the server did not start; see " + pg["log"])


def stop_server(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGINT)
    for process in processes:
        process.wait(timeout=60)


def bench(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="operator-argo-bench-"))
    embedded = start_pg(work / "pgdata")
    postmaster = embedded.handle.get_postmaster_info().pid
    pg = {"host": str(embedded.socket_dir), "port": embedded.port, "db": "postgres"}
    pg["log"] = str(work / "server.log")
    try:
        jobs = asyncio.run(seed(embedded.conninfo("postgres")))
        memory_jobs = None
        if args.store == "memory":
            memory_jobs = str(work / "jobs.json")
            Path(memory_jobs).write_text(json.dumps(jobs))
        key = coincurve.PrivateKey()
        report: dict[str, Any] = {
            "jobs_in_store": JOBS,
            "finished_jobs": FINISHED,
            "started_jobs": STARTED,
            "runs": args.runs,
            "seconds": args.seconds,
            "store": args.store,
            "workers": args.workers,
            "load_average_before": os.getloadavg(),
        }
        for scenario in SCENARIOS:
            name = scenario.name
            if args.only and name not in args.only:
                continue
            asyncio.run(grow(embedded.conninfo("postgres"), scenario.unfinished))
            profile = None
            if args.profile:
                label = name.replace("/", "").replace(" ", "-")
                profile = str(Path(args.profile).resolve() / f"{label}.prof")
            port = free_port()
            provider = address(key) if scenario.signed else ""
            servers = start_server(port, pg, provider, profile, memory_jobs, args.workers)
            method = "POST" if scenario.kind == "start" else "GET"
            runs = []
            try:
                for _ in range(args.runs):
                    lines = scenario_lines(scenario, jobs, key, args.seconds)
                    watched = {
                        "server": [psutil.Process(server.pid) for server in servers],
                        "postgres": postgres_processes(postmaster),
                    }
                    runs.append(
                        run_wrk(
                            port, method, lines, scenario.connections, work, args.seconds, watched
                        )
                    )
            finally:
                stop_server(servers)
            report[name] = {
                "rps_median": round(statistics.median(r["rps"] for r in runs), 1),
                "p99_ms_median": round(statistics.median(r["p99_us"] for r in runs) / 1000, 2),
                "p50_ms_median": round(statistics.median(r["p50_us"] for r in runs) / 1000, 2),
                "non2xx_total": sum(r["non2xx"] for r in runs),
                **{
                    f"{who}_cpu_us_per_request_median": statistics.median(
                        r[f"{who}_cpu_us_per_request"] for r in runs
                    )
                    for who in ("server", "postgres", "wrk")
                },
                "server_rss_growth_mib_max": max(r["server_rss_growth_mib"] for r in runs),
                "socket_errors_total": sum(r["socket_errors"] for r in runs),
                "runs": runs,
            }
            print(name, {k: v for k, v in report[name].items() if k != "runs"}, flush=True)
            if report[name]["non2xx_total"]:  # refused requests are fast: they measure nothing
                print(f"WARNING: {name}: {report[name]['non2xx_total']} non-2xx", flush=True)
        report["load_average_after"] = os.getloadavg()
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    finally:
        stop_pg(embedded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    srv = sub.add_parser("serve", help="run the API server (used by the benchmark)")
    srv.add_argument("--port", type=int, required=True)
    srv.add_argument("--pg-host", required=True)
    srv.add_argument("--pg-port", type=int, required=True)
    srv.add_argument("--pg-db", required=True)
    srv.add_argument("--provider", default="", help="the allowed provider; empty: unsigned")
    srv.add_argument("--profile")
    srv.add_argument("--memory-jobs", help="serve from an in-memory store holding these jobs")
    srv.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    parser.add_argument("--profile", help="directory for one cProfile file per scenario")
    parser.add_argument("--output", default="bench/api_load.results.json")
    parser.add_argument(
        "--store",
        choices=("postgres", "memory"),
        default="postgres",
        help="memory: diagnosis of the API layers without the database",
    )
    parser.add_argument(
        "--only", action="append", help='a scenario by name, e.g. "GET /compute c=16"'
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes on one port (SO_REUSEPORT)"
    )
    parser.add_argument("--runs", type=int, default=RUNS, help="runs per scenario (median)")
    parser.add_argument("--seconds", type=int, default=SECONDS, help="length of one run")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args)
    else:
        if args.profile:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
        bench(args)


if __name__ == "__main__":
    main()
