"""Benchmark of the Argo engine path against the in-process fake Kubernetes API.

The fake API server runs in its own process (as a real API server would), so its cost is not
counted against the operator's.

Scheduler throughput: N queued jobs in a real PostgreSQL; one Scheduler claims, builds (hera) and
submits (real kubernetes.aio client -> fake API) them all; we time the pass -> workflows/s, and
record the CPU time the operator process and the fake API server spent on it, per workflow.

Watcher cost: the engine's watcher and the reconciler run against that database; the bench plays
the Argo controller, merge-patching each workflow's status so its configure step is Running, and
records the time from the patch's answer (the change is stored at the API server) until the job
row shows status 20 (event-to-database latency): one change at a time (latency) and all changes
at once (events applied per second).

Both run against the fake (`--kube=fake`, the default) or against a real kube-apiserver with
etcd (`--kube=real`, the binaries tests/cluster/build.sh builds; the API server's CPU is then
kube-apiserver's plus etcd's). Each round also counts the new connections the operator's client
opened to the API server.

Run from the repository root: `python bench/argo_engine.py [--jobs 500] [--repeat 3]
[--kube=real]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import psycopg
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from operator_argo.app import event_loop_factory
from operator_argo.config import Settings, load_settings
from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import TransientEngineError
from operator_argo.domain.job import Address, JobId, NewJob
from operator_argo.domain.names import MANAGED_SELECTOR
from operator_argo.domain.status import JobStatus
from operator_argo.engines.argo.engine import ArgoEngine
from operator_argo.service.reconciler import Reconciler
from operator_argo.service.scheduler import Scheduler
from operator_argo.store.database import Database
from operator_argo.store.embedded import start_server, stop_server
from operator_argo.store.jobs import PostgresJobStore
from operator_argo.store.migrate import migrate
from tests.cluster.control_plane import ControlPlane, request_json, running_control_plane
from tests.fakes.kube import FakeKube, pod_node, sample_job

NS = "ocean-compute"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def serve_fake_kube(kubeconfig: Path) -> None:
    """Child process: run the fake API server until killed."""
    kube = FakeKube(bookmark_interval=5.0)
    await kube.start()
    kube.write_kubeconfig(kubeconfig)
    await asyncio.Event().wait()


def configure_running(name: str) -> dict[str, object]:
    node = pod_node(name, "configure", "Running")
    return {"status": {"phase": "Running", "nodes": {node["id"]: node}}}


async def one_round(conninfo: str, jobs: int, tmp: Path) -> dict[str, float]:
    """A round against the fake API server, started in a process of its own."""
    kubeconfig = tmp / f"kubeconfig-{uuid.uuid4().hex}"
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve-kube", str(kubeconfig)
    )
    while not kubeconfig.exists():
        await asyncio.sleep(0.05)
    try:
        return await measure(conninfo, jobs, kubeconfig, [psutil.Process(child.pid)], NS)
    finally:
        child.kill()
        await child.wait()


async def one_real_round(
    conninfo: str, jobs: int, plane: ControlPlane, namespace: str
) -> dict[str, float]:
    """A round against the real API server, in a namespace of its own."""
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    request_json(plane, "POST", "/api/v1/namespaces", body)
    servers = [
        child for child in psutil.Process().children() if child.name() in ("kube-apiserver", "etcd")
    ]
    return await measure(conninfo, jobs, plane.kubeconfig, servers, namespace)


def cpu_seconds(*processes: psutil.Process) -> float:
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += float(times.user + times.system)
    return total


async def count_connections(engine: ArgoEngine, ns: str) -> list[int]:
    """A counter of the new connections the engine's HTTP client opens from now on (bench only:
    it wraps the session's connector, which the client makes at its first request)."""
    for _ in range(300):  # a real API server's new resource answers 429 for a moment
        try:
            await engine.client.list_workflows(ns)
            break
        except TransientEngineError:
            await asyncio.sleep(0.1)
    connector = engine.client._api.rest_client.pool_manager.connector
    opened = [0]
    create = connector._create_connection

    async def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        opened[0] += 1
        return await create(*args, **kwargs)

    connector._create_connection = counted
    return opened


async def measure(
    conninfo: str, jobs: int, kubeconfig: Path, api_server: list[psutil.Process], ns: str
) -> dict[str, float]:
    settings = Settings(
        engine="argo",
        kubeconfig=str(kubeconfig),
        environments=(Environment(id=NS, namespace=ns, max_jobs=jobs + 1, max_job_duration=600),),
        resync_interval=3600.0,
    )
    database = Database(conninfo, min_size=2, max_size=8)
    await database.open()
    store = PostgresJobStore(database)
    template = sample_job()
    for _ in range(jobs):
        job_id = JobId(uuid.uuid4().hex)
        await store.insert_job(
            NewJob(
                job_id=job_id,
                owner=Address("0xabc"),
                agreement_id=job_id,
                environment=NS,
                spec=template.spec,
            )
        )
    engine = await ArgoEngine.from_settings(settings)
    try:
        operator = psutil.Process()
        opened = await count_connections(engine, ns)
        cpu_before = cpu_seconds(operator), cpu_seconds(*api_server)
        started = time.perf_counter()
        submitted = await Scheduler(settings, store, engine).run_once()
        submit_rate = submitted / (time.perf_counter() - started)
        operator_cpu = cpu_seconds(operator) - cpu_before[0]
        api_server_cpu = cpu_seconds(*api_server) - cpu_before[1]
        new_connections = opened[0]
        assert submitted == jobs
        listed = await engine.client.list_workflows(ns, label_selector=MANAGED_SELECTOR)
        names = [item["metadata"]["name"] for item in listed.items]
        assert len(names) == jobs

        reconciler = Reconciler(store, engine)
        applied: dict[str, asyncio.Event] = {}
        done_at: dict[str, float] = {}

        async def sink(observation) -> None:  # type: ignore[no-untyped-def]
            job = await reconciler.apply(observation)
            if job is not None and job.status is JobStatus.CONFIGURING:
                done_at[observation.workflow_name] = time.perf_counter()
                applied.setdefault(observation.workflow_name, asyncio.Event()).set()

        watcher = asyncio.create_task(engine.watch(sink))
        await asyncio.sleep(1.0)  # the first list and the watch are up
        half = len(names) // 2
        latencies = []
        for name in names[:half]:  # one change at a time: latency
            applied[name] = asyncio.Event()
            await engine.client.patch_workflow(ns, name, configure_running(name))
            changed = time.perf_counter()
            await asyncio.wait_for(applied[name].wait(), 10)
            latencies.append(done_at[name] - changed)
        burst = names[half:]
        for name in burst:
            applied[name] = asyncio.Event()
        changed = time.perf_counter()
        await asyncio.gather(  # all at once: throughput
            *(engine.client.patch_workflow(ns, name, configure_running(name)) for name in burst)
        )
        await asyncio.wait_for(asyncio.gather(*(applied[n].wait() for n in burst)), 120)
        burst_rate = len(burst) / (max(done_at[n] for n in burst) - changed)
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    finally:
        await engine.close()
        await database.close()
    return {
        "submit_per_s": submit_rate,
        "operator_cpu_ms_per_wf": 1000 * operator_cpu / jobs,
        "api_server_cpu_ms_per_wf": 1000 * api_server_cpu / jobs,
        "new_connections_per_100_wf": 100 * new_connections / jobs,
        "latency_p50_ms": 1000 * statistics.median(latencies),
        "latency_p99_ms": 1000 * percentile(latencies, 0.99),
        "events_per_s": burst_rate,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kube", choices=("fake", "real"), default="fake")
    parser.add_argument("--serve-kube", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_kube:
        await serve_fake_kube(args.serve_kube)
        return
    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    tmp = Path(tempfile.mkdtemp(prefix="operator-argo-bench-"))
    server = start_server(tmp / "pgdata")
    planes = contextlib.ExitStack()
    try:
        plane = None
        if args.kube == "real":
            (tmp / "cluster").mkdir()
            plane = planes.enter_context(running_control_plane(tmp / "cluster"))
        rounds = []
        for i in range(args.repeat):
            dbname = f"bench_{i}"
            with psycopg.connect(server.conninfo("postgres"), autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {dbname}")
            conninfo = server.conninfo(dbname)
            database = Database(conninfo, min_size=1, max_size=1)
            await database.open()
            await migrate(database)
            await database.close()
            if plane is None:
                result = await one_round(conninfo, args.jobs, tmp)
            else:
                result = await one_real_round(conninfo, args.jobs, plane, f"bench-{i}")
            print(
                f"round {i + 1}: " + ", ".join(f"{k}={v:.1f}" for k, v in result.items()),
                flush=True,
            )
            rounds.append(result)
        print(
            "median: "
            + ", ".join(f"{k}={statistics.median(r[k] for r in rounds):.1f}" for k in rounds[0])
        )
    finally:
        planes.close()
        stop_server(server)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    # The loop `operator-argo serve` would run on (OPERATOR_EVENT_LOOP, default uvloop).
    with asyncio.Runner(loop_factory=event_loop_factory(load_settings())) as runner:
        runner.run(main())
