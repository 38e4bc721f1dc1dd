"""Real jobs through the HTTP API of the operator the chart installed, in real pods.

Each job goes from POST /compute to its final status; results are fetched with getResult and
compared byte for byte. Inputs and algorithms come from a file server on the node's address.
The jobs that need no hand on them start together (``batch``) and run while the others, which
stop, delete or restart things, take their turns in their own environment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from operator_argo.auth.receipts import verify_receipt
from operator_argo.domain.names import workflow_name
from tests.cluster.node import NODE_NAME, RUNTIME_CLASS, Node
from tests.node.conftest import NAMESPACE, OWNER, job_body
from tests.node.harness import (
    API,
    FileServer,
    InstalledOperator,
    OperatorClient,
    kubectl,
    pods,
    workflows,
)

SUCCESS = [1, 20, 30, 40, 60, 70]
PROVISIONING_FAILED = [1, 20]  # then 31 or 32: never 60 in between (CONTRACT §4)
SLEEPER = (
    "import os, pathlib, sys, time\n"
    "for tick in range(600):\n"
    "    print('tick', tick, flush=True)\n"
    "    pathlib.Path(os.environ['OUTPUTS'], 'ticks.txt').write_text(str(tick))\n"
    "    time.sleep(0.5)\n"
)


def ascending(seen: list[int], path: list[int]) -> bool:
    """Every status seen is on ``path``, in its order (a poll may miss a short one)."""
    position = 0
    for status in seen:
        if status not in path[position:]:
            return False
        position = path.index(status, position)
    return True


REVERSE = (
    "import os, pathlib\n"
    "inputs = sorted(pathlib.Path(os.environ['INPUTS']).rglob('*'))\n"
    "data = b''.join(p.read_bytes() for p in inputs if p.is_file())\n"
    "pathlib.Path(os.environ['OUTPUTS'], 'reversed.bin').write_bytes(data[::-1])\n"
    "print('processed', len(data), 'bytes')\n"
)
DIGEST = (
    b"import hashlib, os, pathlib\n"
    b"inputs = sorted(p for p in pathlib.Path(os.environ['INPUTS']).rglob('*') if p.is_file())\n"
    b"blob = b''.join(p.read_bytes() for p in inputs)\n"
    b"digest = hashlib.sha256(blob).hexdigest()\n"
    b"pathlib.Path(os.environ['OUTPUTS'], 'digest.txt').write_text(digest)\n"
    b"print('read', len(inputs), 'files')\n"
)
CRASH = "import sys\nprint('starting', flush=True)\nsys.stderr.write('it broke\\n')\nsys.exit(3)\n"
HOG = "block = bytearray(3 * 1024**3)\nprint('allocated')\n"  # 3 GiB in a 1 GiB pod
SECRETS = (
    "import os, pathlib\n"
    "out = pathlib.Path(os.environ['OUTPUTS'])\n"
    "(out / 'result.txt').write_text('fine')\n"
    "(out / 'secret-rows.csv').write_text('not for the consumer')\n"
    "import time; time.sleep(15)  # long enough to be seen running\n"
)
# Fetch from the file server configure downloaded from, and say what came of it.
REACH = (
    "import urllib.request\n"
    "try:\n"
    "    urllib.request.urlopen({url!r}, timeout=5).read()\n"
    "    print('reached the input server')\n"
    "except OSError as exc:\n"
    "    print('no network:', exc)\n"
)


@dataclasses.dataclass
class Started:
    job_id: str
    expected: dict[str, bytes] = dataclasses.field(default_factory=dict)


@pytest.fixture(scope="module")
def batch(api: OperatorClient, files: FileServer) -> dict[str, Started]:
    """The jobs that run on their own, all submitted at once."""
    data = uuid.uuid4().bytes * 2000
    second = b"second input\n" * 50

    def serve(content: bytes) -> str:
        return files.add(uuid.uuid4().hex, content)

    bodies: dict[str, tuple[dict[str, Any], dict[str, bytes]]] = {
        "raw": (
            job_body(files, code=REVERSE, inputs=[serve(data)]),
            {"output:reversed.bin": data[::-1]},
        ),
        "url-algorithm": (
            job_body(files, algorithm_url=serve(DIGEST), inputs=[serve(data), serve(second)]),
            {"output:digest.txt": hashlib.sha256(data + second).hexdigest().encode()},
        ),
        "input-404": (job_body(files, code="print(1)", inputs=[files.url("missing.csv")]), {}),
        "algorithm-404": (job_body(files, algorithm_url=files.url("missing.py")), {}),
        "crash": (job_body(files, code=CRASH), {}),
        "oom": (job_body(files, code=HOG), {}),
        "deadline": (job_body(files, code=SLEEPER, environment="short"), {}),
        "no-image": (job_body(files, code="print(1)", image="localhost/no-such-image:1"), {}),
        "no-network": (job_body(files, code=REACH.format(url=serve(b"x"))), {}),
        "network": (job_body(files, code=REACH.format(url=serve(b"x")), environment="open"), {}),
    }
    return {name: Started(api.start(body), expected) for name, (body, expected) in bodies.items()}


def finished(api: OperatorClient, started: Started, timeout: float = 300) -> dict[str, Any]:
    return api.wait_finished(started.job_id, timeout=timeout)


def test_raw_code_job_reads_its_input_and_publishes_its_output(
    api: OperatorClient, batch: dict[str, Started]
) -> None:
    seen: list[int] = []
    job = api.wait_finished(batch["raw"].job_id, timeout=300, seen=seen)
    assert job["status"] == 70, job
    assert ascending(seen, SUCCESS), seen
    results = api.results_by_type(job, OWNER)
    assert results["output:reversed.bin"] == batch["raw"].expected["output:reversed.bin"]
    assert b"processed 32000 bytes" in results["algorithmLog"]
    assert {"configrationLog", "publishLog"} <= results.keys()
    assert job["terminationDetails"] == {"exitCode": 0, "OOMKilled": False}
    assert job["algorithmStartedAt"] is not None
    # Its receipt: signed by the environment's key, stating the image the node really ran.
    document = json.loads(results["receipt"])
    assert document["receipt"]["environment"]["id"] == "ocean-compute"
    environments = api.call("GET", f"{API}/environments")
    address = next(e["consumerAddress"] for e in environments if e["id"] == "ocean-compute")
    verdict = verify_receipt(document, address=address)
    assert verdict.valid, verdict.problems
    receipt = document["receipt"]
    assert "sha256:" in (receipt["algorithm"]["imageId"] or ""), receipt["algorithm"]
    stated = {item["filename"]: item["sha256"] for item in receipt["results"]}
    assert stated["reversed.bin"] == hashlib.sha256(results["output:reversed.bin"]).hexdigest()


def test_url_algorithm_with_two_inputs(api: OperatorClient, batch: dict[str, Started]) -> None:
    job = finished(api, batch["url-algorithm"])
    assert job["status"] == 70, job
    results = api.results_by_type(job, OWNER)
    assert results["output:digest.txt"] == batch["url-algorithm"].expected["output:digest.txt"]
    assert b"read 2 files" in results["algorithmLog"]


@pytest.mark.parametrize(("name", "status"), [("input-404", 31), ("algorithm-404", 32)])
def test_provisioning_failures_end_31_or_32_and_publish_the_logs(
    api: OperatorClient, batch: dict[str, Started], name: str, status: int
) -> None:
    seen: list[int] = []
    job = api.wait_finished(batch[name].job_id, timeout=300, seen=seen)
    assert job["status"] == status, job
    assert ascending(seen, [*PROVISIONING_FAILED, status]), seen
    results = api.results_by_type(job, OWNER)
    assert b"HTTP 404" in results["configrationLog"]
    assert "algorithmLog" not in results and not any(k.startswith("output:") for k in results)


def test_a_crashing_algorithm_ends_70_with_its_exit_code_and_stderr(
    api: OperatorClient, batch: dict[str, Started]
) -> None:
    job = finished(api, batch["crash"])
    assert job["status"] == 70 and job["stopreq"] == 0, job
    assert job["terminationDetails"] == {"exitCode": 3, "OOMKilled": False}
    log = api.results_by_type(job, OWNER)["algorithmLog"]
    assert log == b"starting\nit broke\n"


def test_an_algorithm_over_its_memory_limit_is_oom_killed_by_the_kubelet(
    api: OperatorClient, batch: dict[str, Started]
) -> None:
    job = finished(api, batch["oom"])
    assert job["status"] == 70, job
    assert job["terminationDetails"] == {"exitCode": 137, "OOMKilled": True}
    assert b"allocated" not in api.results_by_type(job, OWNER)["algorithmLog"]


def test_the_deadline_is_enforced_by_argo_and_publish_still_runs(
    api: OperatorClient, batch: dict[str, Started], installed: InstalledOperator
) -> None:
    job = finished(api, batch["deadline"])
    assert job["status"] == 70 and job["stopreq"] == 2, job
    assert job["terminationDetails"]["exitCode"] == 143  # SIGTERM from the executor
    results = api.results_by_type(job, OWNER)
    assert b"tick 0" in results["algorithmLog"]
    assert "output:ticks.txt" in results  # what it wrote before the end was published
    # Argo ended it, not the operator's watchdog (which waits out a grace beyond the deadline).
    started = float(job["algorithmStartedAt"])
    assert float(job["dateFinished"]) - started < 8 + 60


def test_an_image_that_cannot_be_pulled_ends_the_job_promptly_with_the_reason(
    api: OperatorClient, batch: dict[str, Started]
) -> None:
    job = finished(api, batch["no-image"], timeout=240)
    assert job["status"] == 70, job
    # Well before its 120 s maxJobDuration: the test install gives pulls a 5 s grace.
    assert float(job["dateFinished"]) - float(job["dateCreated"]) < 100
    results = api.results_by_type(job, OWNER)
    log = results["algorithmLog"].decode()
    assert log.startswith("operator-argo: the algorithm could not start: ")
    assert "localhost/no-such-image:1" in log and ("ErrImagePull" in log or "BackOff" in log)
    assert b"ended the job early" in results["publishLog"]


# --- jobs with a hand on them ------------------------------------------------------------------


def algorithm_pod(node: Node, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """The job's algorithm pod once its main container runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pod in pods(node.plane, NAMESPACE, f"operator-argo/job-id={job_id}"):
            if pod["metadata"]["labels"].get("operator-argo/step") != "algorithm":
                continue
            states = {
                c["name"]: c.get("state", {}) for c in pod["status"].get("containerStatuses") or []
            }
            if "running" in states.get("main", {}):
                return pod
        time.sleep(0.5)
    raise AssertionError(f"no running algorithm pod for {job_id} after {timeout}s")


def wait_for_log(node: Node, pod: dict[str, Any], text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = kubectl(
            node.plane, "-n", NAMESPACE, "logs", pod["metadata"]["name"], "-c", "main", check=False
        )
        if text in out or time.monotonic() > deadline:
            return out
        time.sleep(0.5)


@pytest.fixture
def sleeper(api: OperatorClient, files: FileServer) -> Iterator[str]:
    """A running job that ticks until stopped (it would take 5 minutes alone)."""
    job_id = api.start(job_body(files, code=SLEEPER, environment="interactive"))
    yield job_id
    if api.status(job_id)["dateFinished"] is None:
        api.stop(job_id, OWNER)


def test_stop_while_running_publishes_and_the_output_shows_in_the_container_log(
    api: OperatorClient, node: Node, sleeper: str
) -> None:
    pod = algorithm_pod(node, sleeper)
    log = wait_for_log(node, pod, "tick 2")
    assert "tick 0\ntick 1\ntick 2" in log  # kubectl logs (and the Argo UI) show it live
    (stopping,) = api.stop(sleeper, OWNER)
    assert stopping["stopreq"] == 1
    job = api.wait_finished(sleeper, timeout=120)
    assert job["status"] == 70 and job["stopreq"] == 1, job
    results = api.results_by_type(job, OWNER)
    assert results["algorithmLog"].startswith(b"tick 0\ntick 1\ntick 2\n")
    assert "output:ticks.txt" in results


def test_delete_while_running_removes_the_job_its_workflow_and_results(
    api: OperatorClient, node: Node, sleeper: str
) -> None:
    algorithm_pod(node, sleeper)
    assert api.delete(sleeper, OWNER) == ""
    job = api.wait_finished(sleeper, timeout=120)
    assert job["removed"] == 1, job
    deadline = time.monotonic() + 60
    while any(
        w["metadata"]["labels"].get("operator-argo/job-id") == sleeper
        for w in workflows(node.plane, NAMESPACE)
    ):
        assert time.monotonic() < deadline, "the workflow outlived its deleted job"
        time.sleep(0.5)
    for index in range(len(job["results"] or [])):
        with pytest.raises(AssertionError, match="404"):
            api.result(sleeper, OWNER, index)


def test_a_workflow_deleted_behind_the_operators_back_ends_the_job(
    api: OperatorClient, node: Node, sleeper: str
) -> None:
    algorithm_pod(node, sleeper)
    kubectl(node.plane, "-n", NAMESPACE, "delete", "workflow", f"c2d-{sleeper}", "--wait=false")
    job = api.wait_finished(sleeper, timeout=120)
    assert job["status"] == 70, job


def test_an_operator_restart_mid_job_leaves_the_job_running_in_its_one_workflow(
    api: OperatorClient, node: Node, files: FileServer, installed: InstalledOperator
) -> None:
    code = SLEEPER.replace("range(600)", "range(40)")  # about 20 s
    job_id = api.start(job_body(files, code=code, environment="interactive"))
    algorithm_pod(node, job_id)
    (before,) = [
        w for w in workflows(node.plane, NAMESPACE) if w["metadata"]["name"] == f"c2d-{job_id}"
    ]
    selector = f"app.kubernetes.io/instance={installed.release},app.kubernetes.io/component=server"
    kubectl(node.plane, "-n", NAMESPACE, "delete", "pod", "-l", selector, "--wait=true")
    kubectl(
        node.plane,
        "-n",
        NAMESPACE,
        "rollout",
        "status",
        f"deployment/{installed.release}-operator-argo",
        "--timeout=180s",
    )
    (during,) = [
        w for w in workflows(node.plane, NAMESPACE) if w["metadata"]["name"] == f"c2d-{job_id}"
    ]
    assert during["metadata"]["uid"] == before["metadata"]["uid"]  # not submitted again
    job = api.wait_finished(job_id, timeout=180)
    assert job["status"] == 70 and job["stopreq"] == 0, job
    assert api.results_by_type(job, OWNER)["output:ticks.txt"] == b"39"


def test_the_algorithm_has_no_network_while_configure_downloads(
    api: OperatorClient, batch: dict[str, Started]
) -> None:
    """The chart's NetworkPolicies, enforced by kube-router: configure fetched the input from
    the node's file server, the algorithm may not reach that same server."""
    job = finished(api, batch["no-network"])
    assert job["status"] == 70, job
    results = api.results_by_type(job, OWNER)
    assert b"no network:" in results["algorithmLog"], results["algorithmLog"]
    assert b"input 0 file 0: 8 B" in results["configrationLog"]


def test_an_environment_that_allows_network_lets_its_algorithm_out(
    api: OperatorClient, batch: dict[str, Started]
) -> None:
    job = finished(api, batch["network"])
    assert job["status"] == 70, job
    assert b"reached the input server" in api.results_by_type(job, OWNER)["algorithmLog"]


def test_a_placed_and_filtered_job_runs_where_told_and_publishes_only_what_the_filter_kept(
    api: OperatorClient, files: FileServer, node: Node
) -> None:
    job_id = api.start(job_body(files, code=SECRETS, environment="filtered"))
    # While it runs: the algorithm pod carries the environment's runtime class and node selector.
    pod = algorithm_pod(node, job_id, timeout=240)
    assert pod["spec"]["runtimeClassName"] == RUNTIME_CLASS
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/hostname": NODE_NAME}
    seen: list[int] = []
    job = api.wait_finished(job_id, timeout=300, seen=seen)
    assert job["status"] == 70, job
    assert ascending(seen, [1, 20, 30, 40, 50, 60, 70]), seen
    results = api.results_by_type(job, OWNER)
    assert results["output:result.txt"] == b"fine"
    assert "output:secret-rows.csv" not in results
    assert b"kept ['result.txt']" in results["filteringLog"]


def test_a_finished_workflow_stays_for_the_argo_ui_with_a_ttl(
    api: OperatorClient, batch: dict[str, Started], node: Node
) -> None:
    """Finished jobs stay visible in the Argo UI: the real controller keeps the workflow, which
    carries the TTL the operator set once the job's end was stored."""
    job = finished(api, batch["crash"])
    name = f"c2d-{job['jobId']}"
    (workflow,) = [w for w in workflows(node.plane, NAMESPACE) if w["metadata"]["name"] == name]
    assert workflow["status"]["phase"] in ("Failed", "Succeeded")
    assert workflow["spec"]["ttlStrategy"]["secondsAfterCompletion"] > 0


def test_argo_removes_a_kept_workflow_when_its_ttl_runs_out_and_the_job_stays_as_it_was(
    api: OperatorClient, batch: dict[str, Started], node: Node
) -> None:
    """The real controller's TTL clean-up, with the kept time cut to a second (as a short
    OPERATOR_KEEP_FINISHED would set it): the workflow goes, and its removal is not taken for a
    deletion behind the operator's back."""
    job = finished(api, batch["url-algorithm"])
    name = workflow_name(job["jobId"])
    seconds = {"secondsAfterSuccess": 1, "secondsAfterFailure": 1, "secondsAfterCompletion": 1}
    patch = json.dumps({"spec": {"ttlStrategy": seconds}})
    kubectl(node.plane, "-n", NAMESPACE, "patch", "workflow", name, "--type=merge", "-p", patch)
    deadline = time.monotonic() + 90
    while any(w["metadata"]["name"] == name for w in workflows(node.plane, NAMESPACE)):
        assert time.monotonic() < deadline, "Argo kept the workflow past its TTL"
        time.sleep(0.5)
    time.sleep(2)  # the removal's watch event has reached the operator (it resyncs every 30 s)
    after = api.wait_finished(job["jobId"], timeout=30)
    assert (after["status"], after["error"], after["dateFinished"]) == (
        70,
        job["error"],
        job["dateFinished"],
    )
    assert (
        api.results_by_type(after, OWNER)["output:digest.txt"]
        == (batch["url-algorithm"].expected["output:digest.txt"])
    )
