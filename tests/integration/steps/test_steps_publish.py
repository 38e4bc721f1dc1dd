"""The publish step as a real subprocess, storing into a local results directory or fake IPFS."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.fakes.ipfs import API_KEY, CLIENT_ID, FakeIpfs
from tests.integration.steps.stepkit import JOB_ID, JobDirs, run_step


def _publish_env(dirs: JobDirs, results: Path, **extra: str) -> dict[str, str]:
    return dirs.env(OPERATOR_STORAGE="local", OPERATOR_RESULTS_DIR=str(results), **extra)


def _write_logs(dirs: JobDirs, algorithm_log: str = "algo says hi\n") -> None:
    (dirs.volume / "logs").mkdir(parents=True, exist_ok=True)
    (dirs.volume / "logs" / "algorithm.log").write_text(algorithm_log)
    (dirs.admin / "logs").mkdir(parents=True, exist_ok=True)
    (dirs.admin / "logs" / "configure.log").write_text("configure was here\n")


async def test_outputs_then_logs_in_contract_order(job_dirs: JobDirs, tmp_path: Path) -> None:
    outputs = job_dirs.volume / "outputs"
    (outputs / "nested").mkdir(parents=True)
    (outputs / "nested" / "deep.txt").write_text("not top level")
    (outputs / "b.txt").write_text("bbb")
    (outputs / "a.csv").write_text("x,y\n1,2\n")
    (outputs / "algorithm.log").write_text("an output named like a log")
    os.symlink(job_dirs.admin / "logs" / "configure.log", outputs / "leak")
    _write_logs(job_dirs)
    results = tmp_path / "results"

    run = await run_step("publish", _publish_env(job_dirs, results))

    assert run.code == 0, run.stderr
    assert run.result is not None
    assert run.result["error"] is None
    files = run.result["files"]
    assert [(f["filename"], f["type"]) for f in files] == [
        ("a.csv", "output"),
        ("algorithm.log", "output"),
        ("b.txt", "output"),
        ("algorithm.log", "algorithmLog"),
        ("configure.log", "configrationLog"),
        ("publish.log", "publishLog"),
    ]
    assert [f["key"] for f in files[:4]] == [
        f"{JOB_ID}/a.csv",
        f"{JOB_ID}/outputs/algorithm.log",
        f"{JOB_ID}/b.txt",
        f"{JOB_ID}/algorithm.log",
    ]
    for item in files:
        stored = results / item["key"]
        assert stored.stat().st_size == item["filesize"]
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == item["sha256"]  # as uploaded
    assert (results / JOB_ID / "a.csv").read_text() == "x,y\n1,2\n"
    assert (results / JOB_ID / "algorithm.log").read_text() == "algo says hi\n"
    assert (
        results / JOB_ID / "outputs" / "algorithm.log"
    ).read_text() == "an output named like a log"
    publish_log = (results / JOB_ID / "publish.log").read_text()
    assert "publish finished" in publish_log
    assert "a.csv (output)" in publish_log
    assert not (results / JOB_ID / "leak").exists()
    assert not (results / JOB_ID / "deep.txt").exists()


async def test_without_outputs_dir_only_logs_are_published(
    job_dirs: JobDirs, tmp_path: Path
) -> None:
    (job_dirs.admin / "logs").mkdir(parents=True)
    (job_dirs.admin / "logs" / "configure.log").write_text("input 0 file 0: HTTP 404\n")
    run = await run_step("publish", _publish_env(job_dirs, tmp_path / "results"))
    assert run.code == 0, run.stderr
    assert run.result is not None
    assert [f["type"] for f in run.result["files"]] == ["configrationLog", "publishLog"]


async def test_after_an_algorithm_failure_logs_are_still_published(
    job_dirs: JobDirs, tmp_path: Path
) -> None:
    (job_dirs.volume / "outputs").mkdir(parents=True)
    _write_logs(job_dirs, algorithm_log="Traceback (most recent call last):\nZeroDivisionError\n")
    results = tmp_path / "results"
    run = await run_step("publish", _publish_env(job_dirs, results))
    assert run.code == 0, run.stderr
    assert run.result is not None
    assert [f["filename"] for f in run.result["files"]] == [
        "algorithm.log", "configure.log", "publish.log"
    ]  # fmt: skip
    assert "ZeroDivisionError" in (results / JOB_ID / "algorithm.log").read_text()


async def test_outputs_over_the_limit_are_skipped_with_an_error(
    job_dirs: JobDirs, tmp_path: Path
) -> None:
    outputs = job_dirs.volume / "outputs"
    outputs.mkdir(parents=True)
    (outputs / "1-small").write_bytes(b"s" * 600)
    (outputs / "2-big").write_bytes(b"b" * 600)  # 1200 > 1000 together
    (outputs / "3-tiny").write_bytes(b"t" * 300)
    _write_logs(job_dirs)
    results = tmp_path / "results"
    run = await run_step(
        "publish", _publish_env(job_dirs, results, OPERATOR_MAX_OUTPUT_BYTES="1000")
    )
    assert run.code == 0, run.stderr
    assert run.result is not None
    names = [f["filename"] for f in run.result["files"]]
    assert names == ["1-small", "3-tiny", "algorithm.log", "configure.log", "publish.log"]
    assert run.result["error"] == "2-big: outputs exceed the limit of 1000 B"
    assert not (results / JOB_ID / "2-big").exists()


async def test_publish_to_ipfs_records_cids_as_keys(
    job_dirs: JobDirs, fake_ipfs: FakeIpfs, tmp_path: Path
) -> None:
    (job_dirs.volume / "outputs").mkdir(parents=True)
    (job_dirs.volume / "outputs" / "result.json").write_text('{"answer": 42}')
    _write_logs(job_dirs)
    env = job_dirs.env(
        OPERATOR_STORAGE="ipfs", IPFS_URL=fake_ipfs.url, X_API_KEY=API_KEY, CLIENT_ID=CLIENT_ID
    )
    run = await run_step("publish", env)
    assert run.code == 0, run.stderr
    assert run.result is not None
    files = run.result["files"]
    assert len(files) == 4
    assert fake_ipfs.objects[files[0]["key"]] == b'{"answer": 42}'
    assert all(f["key"] in fake_ipfs.objects for f in files)
    log = b"".join(fake_ipfs.objects[f["key"]] for f in files if f["type"] == "publishLog")
    assert API_KEY.encode() not in log and fake_ipfs.url.encode() not in log


async def test_storage_refusing_uploads_fails_the_step_without_leaking_credentials(
    job_dirs: JobDirs, fake_ipfs: FakeIpfs
) -> None:
    _write_logs(job_dirs)
    env = job_dirs.env(
        OPERATOR_STORAGE="ipfs", IPFS_URL=fake_ipfs.url, X_API_KEY="wrong-key", CLIENT_ID=CLIENT_ID
    )
    run = await run_step("publish", env)
    assert run.code == 1
    assert run.result is not None
    assert run.result["files"] == []
    assert (
        "algorithm.log: upload failed: IPFS storage refused add: not authorised"
        in run.result["error"]
    )
    assert fake_ipfs.refused == 3
    everything = run.stderr + str(run.result)
    assert "wrong-key" not in everything and fake_ipfs.url not in everything


async def test_a_stop_reason_reaches_the_logs_of_an_algorithm_that_never_ran(
    job_dirs: JobDirs, tmp_path: Path
) -> None:
    """The operator ended the job before the algorithm started (its image could not be pulled):
    the algorithm has no log of its own, so publish writes one with the reason."""
    (job_dirs.admin / "logs").mkdir(parents=True, exist_ok=True)
    results = tmp_path / "results"
    reason = 'the algorithm could not start: ErrImagePull: failed to pull "org/algo:1"'
    run = await run_step("publish", _publish_env(job_dirs, results, OPERATOR_STOP_REASON=reason))
    assert run.code == 0, run.stderr
    assert [f["type"] for f in run.result["files"]] == ["algorithmLog", "publishLog"]  # type: ignore[index]
    assert (results / JOB_ID / "algorithm.log").read_text() == f"operator-argo: {reason}\n"
    assert reason in (results / JOB_ID / "publish.log").read_text()


async def test_without_a_stop_reason_the_algorithm_log_is_left_as_it_was(
    job_dirs: JobDirs, tmp_path: Path
) -> None:
    _write_logs(job_dirs)
    results = tmp_path / "results"
    run = await run_step("publish", _publish_env(job_dirs, results, OPERATOR_STOP_REASON=""))
    assert run.code == 0, run.stderr
    assert (results / JOB_ID / "algorithm.log").read_text() == "algo says hi\n"


def _filtered_job(dirs: JobDirs, *, passed: bool) -> None:
    outputs = dirs.volume / "outputs"
    outputs.mkdir(parents=True)
    (outputs / "summary.txt").write_text("ok")
    (outputs / "filtering.log").write_text("an output named like the filter's log")
    _write_logs(dirs)
    folder = dirs.admin / "filter"
    folder.mkdir(parents=True)
    (folder / "filtering.log").write_text("filter was here\n")
    if passed:
        (folder / "passed").write_text("")


async def test_a_passed_filter_lets_the_outputs_through_and_its_log_is_published(
    job_dirs: JobDirs, tmp_path: Path
) -> None:
    _filtered_job(job_dirs, passed=True)
    results = tmp_path / "results"
    run = await run_step("publish", _publish_env(job_dirs, results, OPERATOR_FILTERED="1"))
    assert run.code == 0, run.stderr
    assert run.result is not None and run.result["error"] is None
    assert [(f["filename"], f["type"]) for f in run.result["files"]] == [
        ("filtering.log", "output"),
        ("summary.txt", "output"),
        ("algorithm.log", "algorithmLog"),
        ("configure.log", "configrationLog"),
        ("filtering.log", "filteringLog"),
        ("publish.log", "publishLog"),
    ]
    assert (results / JOB_ID / "filtering.log").read_text() == "filter was here\n"
    assert (results / JOB_ID / "outputs" / "filtering.log").read_text().startswith("an output")


async def test_without_the_filters_mark_only_the_logs_are_published(
    job_dirs: JobDirs, tmp_path: Path
) -> None:
    _filtered_job(job_dirs, passed=False)
    os.symlink(job_dirs.admin / "filter" / "filtering.log", job_dirs.admin / "filter" / "passed")
    results = tmp_path / "results"
    run = await run_step("publish", _publish_env(job_dirs, results, OPERATOR_FILTERED="1"))
    assert run.code == 0, run.stderr
    assert run.result is not None
    assert [f["type"] for f in run.result["files"]] == [
        "algorithmLog",
        "configrationLog",
        "filteringLog",
        "publishLog",
    ]
    assert "outputs withheld" in run.result["error"]
    assert not (results / JOB_ID / "summary.txt").exists()
    assert "outputs withheld" in (results / JOB_ID / "publish.log").read_text()
