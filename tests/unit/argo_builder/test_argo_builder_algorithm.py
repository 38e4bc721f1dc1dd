"""The algorithm step: image pinning, `$ALGO`, the launcher, and caller text kept inert."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from argo_builder_support import env_of, load_request, steps_of

from operator_argo.domain.job import Job, spec_from_dict
from operator_argo.engines.argo.builder_algorithm import (
    LAUNCHER,
    encode_entrypoint,
    resolve_entrypoint,
)
from operator_argo.engines.argo.builder_env import ALGORITHM_LOG, STOP_REASON_VALUE, inert_json

Build = Callable[..., dict[str, Any]]
DIGEST = "sha256:" + "ab" * 32


def _with_container(job_body: Callable[..., Job], **container: str) -> Job:
    body = load_request("published-algo.json")
    body["workflow"]["stages"][0]["algorithm"]["container"].update(container)
    return job_body(workflow=body["workflow"])


def _stored_with(job: Job, **container: str) -> Job:
    """`job` with container fields POST would refuse now (preflight) but a stored job may hold."""
    algorithm = job.spec.algorithm
    changed = dataclasses.replace(algorithm.container, **container)
    spec = dataclasses.replace(
        job.spec, algorithm=dataclasses.replace(algorithm, container=changed)
    )
    return dataclasses.replace(job, spec=spec)


def _algorithm(wf: dict[str, Any]) -> dict[str, Any]:
    return steps_of(wf)["algorithm"]


@pytest.mark.parametrize(
    ("checksum", "image"),
    [
        (DIGEST, f"org/algo@{DIGEST}"),
        (DIGEST.upper().replace("SHA256", "sha256"), f"org/algo@{DIGEST}"),
        ("", "org/algo:v1"),
    ],
)
def test_image_digest_or_tag(
    build: Build, make_job: Callable[..., Job], checksum: str, image: str
) -> None:
    job = _with_container(make_job, image="org/algo", tag="v1", checksum=checksum)
    assert _algorithm(build(job=job))["container"]["image"] == image


@pytest.mark.parametrize("checksum", ["sha256:short", "md5:" + "ab" * 16])
def test_a_stored_checksum_that_is_no_digest_falls_back_to_the_tag(
    build: Build, make_job: Callable[..., Job], checksum: str
) -> None:
    job = _stored_with(_with_container(make_job, image="org/algo", tag="v1"), checksum=checksum)
    assert _algorithm(build(job=job))["container"]["image"] == "org/algo:v1"


@pytest.mark.parametrize(
    ("entrypoint", "resolved"),
    [
        ("python $ALGO", "python /data/transformations/algorithm"),
        ("node ${ALGO} --x", "node /data/transformations/algorithm --x"),
        (
            "sh -c 'run $ALGO; cat $ALGO'",
            "sh -c 'run /data/transformations/algorithm; cat /data/transformations/algorithm'",
        ),
        ("echo $ALGORITHM $ALGO_2", "echo $ALGORITHM $ALGO_2"),
        ("python /app/main.py", "python /app/main.py"),
    ],
)
def test_algo_placeholder(entrypoint: str, resolved: str) -> None:
    assert resolve_entrypoint(entrypoint) == resolved


def test_launcher_is_fixed_and_entrypoint_is_data(
    build: Build, make_job: Callable[..., Job]
) -> None:
    job = _with_container(make_job, entrypoint="python $ALGO; rm -rf /admin")
    algorithm = _algorithm(build(job=job))
    assert algorithm["container"]["command"] == ["sh", "-c", LAUNCHER]
    env = env_of(algorithm)
    assert env["OPERATOR_ENTRYPOINT"]["value"] == (
        "python /data/transformations/algorithm; rm -rf /admin"
    )
    assert "/admin" not in {m["mountPath"] for m in algorithm["container"]["volumeMounts"]}


def _run_launcher(tmp_path: Path, entrypoint: str, *, path: str | None = None) -> tuple[int, str]:
    """Run the real launcher under sh, its log path moved into tmp_path; the container's output
    (stdout, where `kubectl logs` reads) must hold exactly what the log holds."""
    log = tmp_path / "algorithm.log"
    script = LAUNCHER.replace(ALGORITHM_LOG, str(log))
    assert script != LAUNCHER
    env = {"PATH": path or os.environ["PATH"], "OPERATOR_ENTRYPOINT": encode_entrypoint(entrypoint)}
    done = subprocess.run(
        ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    logged = log.read_text(encoding="utf-8")
    assert done.stdout == (logged if path is None else "")
    assert done.stderr == ""  # stderr is merged into both
    return done.returncode, logged


@pytest.mark.parametrize(
    ("entrypoint", "status", "extra"),
    [
        ("echo out; echo err >&2; exit 7", 7, ""),  # compound: runs whole, its exit code kept
        ("sh -c 'echo out; echo err >&2; exit 3'", 3, ""),  # a plain program's status
        ("echo out && echo err >&2 && false", 1, ""),
        ("echo out; echo err >&2", 0, ""),
        # Killed by a signal: 128 + 15, and the shell's own word for it in the log.
        ("echo out; echo err >&2; sh -c 'kill -TERM $$'", 143, "Terminated\n"),
    ],
)
def test_launcher_logs_output_and_keeps_the_exit_code(
    tmp_path: Path, entrypoint: str, status: int, extra: str
) -> None:
    code, log = _run_launcher(tmp_path, entrypoint)
    assert code == status
    assert log == "out\nerr\n" + extra


def test_launcher_without_tee_still_logs_and_keeps_the_exit_code(tmp_path: Path) -> None:
    """An image with a shell but no `tee`: the log file only, the status unchanged."""
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "echo").symlink_to("/bin/echo")
    code, log = _run_launcher(tmp_path, "echo out; echo err >&2; exit 5", path=str(bare))
    assert (code, log) == (5, "out\nerr\n")


@pytest.mark.parametrize(
    "text",
    [
        "{{workflow.name}}",
        "{{=1+1}} {{{ }}}",
        "back\\slash \\n \\0173 \\c end",
        "quotes ' \" $ ` ; && |",
        "percent %s %b %%",
        "-n leading dash",
    ],
)
def test_launcher_passes_the_entrypoint_byte_for_byte(tmp_path: Path, text: str) -> None:
    quoted = "'" + text.replace("'", "'\\''") + "'"
    code, log = _run_launcher(tmp_path, f"printf '%s\\n' {quoted}")
    assert code == 0
    assert log == text + "\n"


def test_no_template_braces_reach_argo(build: Build, make_job: Callable[..., Job]) -> None:
    """Caller text never forms `{{`, so Argo cannot evaluate it, yet decodes unchanged."""
    body = load_request("raw-algo.json")
    stage = body["workflow"]["stages"][0]
    stage["algorithm"]["rawcode"] = "print('{{workflow.name}}')"
    stage["algorithm"]["container"]["entrypoint"] = "python $ALGO '{{=sprig.env(\"X\")}}'"
    stage["algorithm"]["id"] = "did:op:{{pod.name}}"
    stage["input"][0]["id"] = "did:op:{{steps.configure.outputs.result}}"
    job = make_job(workflow=body["workflow"], agreementId="{{workflow.uid}}")
    job = _stored_with(job, image="img{{x}}")  # stays inert though POST refuses it now
    wf = build(job=job)
    # The only expression is our own, fixed one: publish's stop reason.
    assert "{{" not in json.dumps(wf).replace(json.dumps(STOP_REASON_VALUE)[1:-1], "")
    assert json.dumps(wf).count("{{") == 1
    configure = env_of(steps_of(wf)["configure"])
    assert spec_from_dict(json.loads(configure["OPERATOR_JOB_SPEC"]["value"])) == job.spec
    env = env_of(_algorithm(wf))
    assert json.loads(env["DIDS"]["value"]) == ["{{steps.configure.outputs.result}}"]


@pytest.mark.parametrize("value", [{"a": {"b": "{{x}}"}}, ["{{{", "}}}", "\\{{"], "{{{{"])
def test_inert_json_round_trips(value: Any) -> None:
    text = inert_json(value)
    assert "{{" not in text
    assert json.loads(text) == value
