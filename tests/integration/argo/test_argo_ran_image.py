"""ArgoEngine.ran_image against the fake API: the algorithm container's imageID, by digest."""

from __future__ import annotations

import pytest

from operator_argo.config import Settings
from operator_argo.domain.names import STEP_LABEL, WORKFLOW_LABEL, workflow_name
from operator_argo.engines.argo.client import KubeClient
from operator_argo.engines.argo.engine import ArgoEngine
from tests.fakes.kube import FakeKube
from tests.fakes.kube import sample_job as make_job

NS = "ocean-compute"
DIGEST = "sha256:" + "ab" * 32
pytestmark = pytest.mark.kube_fake_only


async def test_the_image_is_the_algorithm_main_containers_not_another_steps(
    kube_settings: Settings, kube_client: KubeClient, fake_kube: FakeKube
) -> None:
    engine = ArgoEngine(kube_settings, kube_client)
    job = make_job()
    name = workflow_name(job.job_id)
    configure = {WORKFLOW_LABEL: name, STEP_LABEL: "configure"}
    fake_kube.add_pod(NS, f"{name}-configure-1", configure, image_id="sha256:" + "cd" * 32)
    assert await engine.ran_image(job) is None  # no algorithm pod yet
    algorithm = {WORKFLOW_LABEL: name, STEP_LABEL: "algorithm"}
    fake_kube.add_pod(NS, f"{name}-algorithm-2", algorithm)
    assert await engine.ran_image(job) is None  # its container has not begun
    fake_kube.add_pod(NS, f"{name}-algorithm-2", algorithm, image_id=DIGEST)
    assert await engine.ran_image(job) == DIGEST
    fake_kube.pods.clear()  # collected with its workflow
    assert await engine.ran_image(job) is None
