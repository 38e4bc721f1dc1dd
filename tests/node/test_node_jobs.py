"""Real jobs through the HTTP API of the operator the chart installed, in real pods.

Each job goes from POST /compute to its final status; results are fetched with getResult and
compared byte for byte. Inputs and algorithms come from a file server on the node's address.
"""

from __future__ import annotations

import uuid

from tests.cluster.node import Node
from tests.node.conftest import OWNER, job_body
from tests.node.harness import FileServer, OperatorClient

SUCCESS_HISTORY = [1, 20, 30, 40, 60, 70]


def subsequence(seen: list[int], full: list[int]) -> bool:
    """Every status seen comes from ``full``, in its order (a poll may miss a short one)."""
    position = 0
    for status in seen:
        try:
            position = full.index(status, position)
        except ValueError:
            return False
    return True


def test_raw_code_job_reads_its_input_and_publishes_its_output(
    api: OperatorClient, files: FileServer, node: Node
) -> None:
    code = (
        "import os, pathlib\n"
        "inputs = pathlib.Path(os.environ['INPUTS'])\n"
        "data = b''.join(p.read_bytes() for p in sorted(inputs.rglob('*')) if p.is_file())\n"
        "pathlib.Path(os.environ['OUTPUTS'], 'sum.txt').write_bytes(data[::-1])\n"
        "print('processed', len(data), 'bytes')\n"
    )
    content = uuid.uuid4().hex.encode() * 100
    body = job_body(files, code=code, inputs=[files.add(f"{uuid.uuid4().hex}.bin", content)])
    seen: list[int] = []
    job = api.wait_finished(api.start(body), seen=seen)
    assert job["status"] == 70, job
    assert subsequence(seen, SUCCESS_HISTORY), seen
    results = api.results_by_type(job, OWNER)
    assert results["output:sum.txt"] == content[::-1]
    assert b"processed 3200 bytes" in results["algorithmLog"]
    assert {"configrationLog", "publishLog"} <= results.keys()
    assert job["terminationDetails"]["exitCode"] == 0
