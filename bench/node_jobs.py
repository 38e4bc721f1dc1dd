"""Per-job overhead of operator-argo on the real single-node cluster, against Argo's own floor.

Starts the node stage's cluster (tests/cluster/node.py), installs the chart as the node tests do,
then measures three things (method and results in bench/README.md):

1. ``--jobs N`` trivial jobs through the HTTP API, one at a time: request accepted -> the
   algorithm's first line, and the algorithm's last line -> the job's final status stored
   (dateFinished); also the workflow's end as this script sees it -> dateFinished.
2. the same images as a bare three-step workflow (configure, algorithm, publish on exit; each
   step a trivial command) submitted straight to the Kubernetes API, ``--jobs N`` times, one at a
   time, with the job's volume claim and without: workflow created -> algorithm's first line,
   algorithm's last line -> the workflow ended. That is the floor Argo itself sets here.
3. ``--queue M`` jobs submitted at once to an environment with maxJobs 4: wall time until all
   are finished, and the most algorithm pods that ran at the same time.

Times of the algorithm come from the algorithm itself (it prints ``time.time()`` first and
last); the pods' own timestamps have whole seconds only.

    python bench/node_jobs.py [--jobs 20] [--queue 50]     # root; the node stage's pieces built
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Argo's own default pacing unless asked otherwise (the node tests run it at 2 s).
os.environ.setdefault("OPERATOR_ARGO_REQUEUE", "10s")

from operator_argo.domain.names import workflow_name
from tests.cluster.control_plane import ControlPlane, request_json
from tests.cluster.node import ALGORITHM_IMAGE, NODE_IP, running_node
from tests.node import conftest as node_conftest
from tests.node.harness import (
    FileServer,
    OperatorClient,
    TcpToUnixProxy,
    database_service,
    install_operator,
    pods,
)

NAMESPACE = node_conftest.NAMESPACE
OWNER = node_conftest.OWNER
# First and last line: when the algorithm really ran, in this machine's clock.
TIMED = (
    "import time\nprint('start', repr(time.time()), flush=True)\nprint('end', repr(time.time()))\n"
)
WORKFLOWS = f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/workflows"


def algorithm_times(log: str) -> tuple[float, float]:
    marks = dict(line.split() for line in log.splitlines() if line.startswith(("start", "end")))
    return float(marks["start"]), float(marks["end"])


class WorkflowEnds:
    """Polls workflows (every 50 ms) and records when each was first seen finished."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.ended: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WorkflowEnds:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            now = time.time()
            for wf in request_json(self.plane, "GET", WORKFLOWS)["items"]:  # type: ignore[index]
                name = wf["metadata"]["name"]
                if wf.get("status", {}).get("phase") in ("Succeeded", "Failed", "Error"):
                    self.ended.setdefault(name, now)


def run_operator_jobs(
    api: OperatorClient, files: FileServer, ends: WorkflowEnds, n: int
) -> list[dict[str, float]]:
    rows = []
    for _ in range(n):
        body = node_conftest.job_body(files, code=TIMED)
        accepted = time.time()
        job_id = api.start(body)
        job = api.wait_finished(job_id, timeout=300)
        assert job["status"] == 70, job
        log = api.results_by_type(job, OWNER)["algorithmLog"].decode()
        start, end = algorithm_times(log)
        final = float(job["dateFinished"])
        wf_end = ends.ended.get(workflow_name(job_id), float("nan"))
        rows.append({"start": start - accepted, "end": final - end, "store_lag": final - wf_end})
    return rows


def bare_workflow(operator_image: str, with_volume: bool) -> dict[str, Any]:
    """Three trivial steps in the same images: the floor Argo sets on this node."""
    name = f"floor-{uuid.uuid4().hex[:10]}"
    step = {"image": operator_image, "command": ["operator-argo", "--version"]}
    mounts = [{"name": "job", "mountPath": "/data"}] if with_volume else []
    algorithm = {"image": ALGORITHM_IMAGE, "command": ["python3", "-c", TIMED]}
    main_steps = [[{"name": "configure", "template": "configure"}],
                  [{"name": "algorithm", "template": "algorithm"}]]  # fmt: skip
    templates = [
        {"name": "main", "steps": main_steps},
        {"name": "configure", "container": {**step, "volumeMounts": mounts}},
        {"name": "algorithm", "container": {**algorithm, "volumeMounts": mounts}},
        {"name": "publish", "container": {**step, "volumeMounts": mounts}},
    ]
    spec: dict[str, Any] = {
        "entrypoint": "main",
        "onExit": "publish",
        "templates": templates,
        "serviceAccountName": "operator-argo-executor",
        "automountServiceAccountToken": False,
        "executor": {"serviceAccountName": "operator-argo-executor"},
    }
    if with_volume:
        claim = {
            "metadata": {"name": "job"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
        spec["volumeClaimTemplates"] = [claim]
        spec["volumeClaimGC"] = {"strategy": "OnWorkflowCompletion"}
    metadata = {"name": name, "namespace": NAMESPACE}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": metadata,
        "spec": spec,
    }


def algorithm_log(plane: ControlPlane, kubectl: Callable[..., str], workflow: str) -> str:
    for pod in pods(plane, NAMESPACE, f"workflows.argoproj.io/workflow={workflow}"):
        if "-algorithm-" in pod["metadata"]["name"]:
            return kubectl(plane, "-n", NAMESPACE, "logs", pod["metadata"]["name"], "-c", "main")
    raise AssertionError(f"no algorithm pod for {workflow}")


def run_floor(
    plane: ControlPlane, ends: WorkflowEnds, n: int, with_volume: bool, image: str
) -> list[dict[str, float]]:
    from tests.node.harness import kubectl  # noqa: PLC0415

    rows = []
    for _ in range(n):
        body = bare_workflow(image, with_volume)
        name = body["metadata"]["name"]
        created = time.time()
        request_json(plane, "POST", WORKFLOWS, body)
        while name not in ends.ended:
            time.sleep(0.05)
        start, end = algorithm_times(algorithm_log(plane, kubectl, name))
        rows.append({"start": start - created, "end": ends.ended[name] - end})
        request_json(plane, "DELETE", f"{WORKFLOWS}/{name}")
    return rows


def run_queue(
    api: OperatorClient, files: FileServer, plane: ControlPlane, n: int
) -> dict[str, float]:
    """n jobs at once on an environment of maxJobs 4: wall time, peak algorithm pods."""
    peak, stop = [0], threading.Event()

    def count() -> None:
        while not stop.wait(0.2):
            running = [
                p for p in pods(plane, NAMESPACE, "operator-argo/step=algorithm")
                if p["status"].get("phase") in ("Pending", "Running")
            ]  # fmt: skip
            peak[0] = max(peak[0], len(running))

    watcher = threading.Thread(target=count, daemon=True)
    watcher.start()
    started = time.time()
    ids = [api.start(node_conftest.job_body(files, code=TIMED)) for _ in range(n)]
    for job_id in ids:
        assert api.wait_finished(job_id, timeout=1800)["status"] == 70
    wall = time.time() - started
    stop.set()
    watcher.join()
    return {"jobs": n, "wall_s": wall, "jobs_per_s": n / wall, "peak_algorithm_pods": peak[0]}


def summary(rows: list[dict[str, float]]) -> dict[str, float]:
    """Medians over the rows that measured each key: a workflow removed within one poll of its
    end leaves no end time (NaN), and counts in `<key>_samples` only by its absence."""
    medians: dict[str, float] = {}
    for key in rows[0]:
        values = [row[key] for row in rows if not math.isnan(row[key])]
        medians[key] = statistics.median(values) if values else float("nan")
        medians[f"{key}_samples"] = len(values)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--queue", type=int, default=50)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).with_name("node_jobs.results.json")
    )
    args = parser.parse_args()
    from operator_argo.store.embedded import start_server, stop_server  # noqa: PLC0415

    with (
        tempfile.TemporaryDirectory(prefix="bench-node-") as tmp,
        running_node(Path(tmp) / "node") as node,
    ):
        plane = node.plane
        database = start_server(Path(tmp) / "pg")
        try:
            import psycopg  # noqa: PLC0415

            with psycopg.connect(database.conninfo("postgres"), autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench")
            socket = str(database.socket_dir / f".s.PGSQL.{database.port}")
            with TcpToUnixProxy(NODE_IP, socket) as proxy, FileServer().running() as files:
                request_json(plane, "POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
                ip = database_service(plane, NAMESPACE, proxy.port)
                values = node_conftest.chart_values(plane, ip, "bench")
                installed = install_operator(
                    plane, release="bench", namespace=NAMESPACE, values=values
                )
                api = OperatorClient(installed.url)
                image = f"{values['image']['repository']}:{values['image']['tag']}"
                with WorkflowEnds(plane) as ends:
                    api.wait_finished(
                        api.start(node_conftest.job_body(files, code=TIMED))
                    )  # warm-up
                    ours = run_operator_jobs(api, files, ends, args.jobs)
                    floor_volume = run_floor(plane, ends, args.jobs, True, image)
                    floor_bare = run_floor(plane, ends, args.jobs, False, image)
                queue = run_queue(api, files, plane, args.queue)
        finally:
            stop_server(database)
    result = {
        "operator": summary(ours),
        "floor_with_volume": summary(floor_volume),
        "floor_without_volume": summary(floor_bare),
        "queue": queue,
        "runs": {
            "operator": ours,
            "floor_with_volume": floor_volume,
            "floor_without_volume": floor_bare,
        },
    }
    ratio = (result["operator"]["start"] + result["operator"]["end"]) / (
        result["floor_with_volume"]["start"] + result["floor_with_volume"]["end"]
    )
    result["overhead_ratio_vs_floor_with_volume"] = ratio
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
