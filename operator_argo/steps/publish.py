"""The publish step (the workflow's exit handler): upload outputs and logs, report the list.

Order of the reported files (CONTRACT §8): the top-level regular files of VOLUME/outputs sorted
by name (type `output`), then `algorithm.log` (`algorithmLog`), `configure.log`
(`configrationLog`, misspelled on purpose), `filtering.log` (`filteringLog`, only in environments
with a filtering step) and `publish.log` (`publishLog`), each if it exists.

With OPERATOR_FILTERED=1 the outputs are published only when the filtering step left its pass
mark (it does so only when its command succeeded); otherwise only the logs are, and the result
says why: unfiltered outputs never leave the job.

Keys are `<jobId>/<filename>`. An output named like a log (or named `outputs`) is stored as
`<jobId>/outputs/<filename>` instead, so it can neither replace a log nor block that folder.
Symbolic links and other non-regular files in outputs are skipped: publish runs with storage
credentials and must not follow a link the algorithm planted. OPERATOR_MAX_OUTPUT_BYTES caps the
outputs of a job together (an output that would pass it is skipped); logs are always published.

Exit codes: 0 every chosen file stored (also after an algorithm failure), 1 an upload failed,
2 a bad pod environment or storage setting.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import stat
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from operator_argo.config import Settings, load_settings
from operator_argo.domain import names
from operator_argo.domain.errors import ConfigurationError, OperatorError
from operator_argo.domain.receipt import sha256_file
from operator_argo.steps.env import StepEnv, read_step_env, write_result
from operator_argo.steps.logs import close_step_log, human_bytes, open_step_log, rate
from operator_argo.storage.base import ResultStorage, result_key
from operator_argo.storage.factory import open_result_storage

EXIT_UPLOAD_FAILED = 1
EXIT_BAD_ENVIRONMENT = 2
RESERVED_NAMES = frozenset(
    {"algorithm.log", "configure.log", names.FILTER_LOG, "publish.log", "outputs"}
)
OUTPUTS_WITHHELD = "outputs withheld: the filtering step did not pass"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Upload:
    """One file to publish."""

    filename: str
    path: Path
    type: str
    key: str


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def output_uploads(env: StepEnv) -> list[Upload]:
    """The top-level regular files of VOLUME/outputs, sorted by name; none if it is missing."""
    try:
        entries = sorted(os.scandir(env.volume / "outputs"), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    uploads = []
    for entry in entries:
        if not entry.is_file(follow_symlinks=False):
            continue
        name = entry.name
        key_name = f"outputs/{name}" if name in RESERVED_NAMES else name
        uploads.append(
            Upload(
                filename=name,
                path=Path(entry.path),
                type="output",
                key=result_key(env.job_id, key_name),
            )
        )
    return uploads


def log_uploads(env: StepEnv) -> list[Upload]:
    """algorithm.log, configure.log and filtering.log (publish.log comes last, after its log
    is closed)."""
    candidates = [
        ("algorithm.log", env.volume / "logs" / "algorithm.log", names.ALGORITHM_LOG_TYPE),
        ("configure.log", env.log_dir / "configure.log", "configrationLog"),
        (names.FILTER_LOG, env.filter_dir / names.FILTER_LOG, "filteringLog"),
    ]
    return [
        Upload(filename=name, path=path, type=kind, key=result_key(env.job_id, name))
        for name, path, kind in candidates
        if _is_regular(path)
    ]


class Publisher:
    """Uploads files one by one, collecting the result list and the errors."""

    def __init__(self, storage: ResultStorage, log: logging.Logger | None) -> None:
        self._storage = storage
        self.log = log
        self.files: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.failed_uploads = 0

    def _say(self, level: int, message: str, *args: object) -> None:
        if self.log is not None:
            self.log.log(level, message, *args)

    async def upload(self, item: Upload) -> None:
        started = time.monotonic()
        try:
            size = item.path.stat().st_size
            digest = await asyncio.to_thread(sha256_file, item.path)
            key = await self._storage.put_file(item.key, item.path)
        except (OperatorError, OSError) as exc:
            reason = exc.message if isinstance(exc, OperatorError) else exc.strerror
            self.errors.append(f"{item.filename}: upload failed: {reason}")
            self.failed_uploads += 1
            self._say(logging.ERROR, "%s (%s): upload failed: %s", item.filename, item.type, reason)
            return
        self.files.append(
            {
                "filename": item.filename,
                "filesize": size,
                "type": item.type,
                "key": key,
                "sha256": digest,
            }
        )
        self._say(
            logging.INFO,
            "%s (%s): %s",
            item.filename,
            item.type,
            rate(size, time.monotonic() - started),
        )

    def skip(self, item: Upload, reason: str) -> None:
        self.errors.append(f"{item.filename}: {reason}")
        self._say(logging.WARNING, "%s skipped: %s", item.filename, reason)


async def _publish_outputs(env: StepEnv, settings: Settings, work: Publisher) -> int:
    if env.filtered and not _is_regular(env.filter_dir / names.FILTER_PASSED):
        work.errors.append(OUTPUTS_WITHHELD)
        if work.log is not None:
            work.log.warning("%s: only the logs are published", OUTPUTS_WITHHELD)
        return 0
    used = 0
    for item in output_uploads(env):
        size = item.path.stat().st_size
        if used + size > settings.max_output_bytes:
            work.skip(item, f"outputs exceed the limit of {human_bytes(settings.max_output_bytes)}")
            continue
        used += size
        await work.upload(item)
    return used


def note_stop_reason(env: StepEnv, log: logging.Logger) -> None:
    """Say in publish.log and algorithm.log why the operator ended the job early, if it did: an
    algorithm that never started has no log of its own, and its consumer reads only that one."""
    if not env.stop_reason:
        return
    log.warning("the operator ended the job early: %s", env.stop_reason)
    path = env.volume / "logs" / "algorithm.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as algorithm_log:
            algorithm_log.write(f"operator-argo: {env.stop_reason}\n")
    except OSError as exc:
        log.warning("could not note that in algorithm.log: %s", exc.strerror)


async def run_publish(env: StepEnv, settings: Settings) -> int:
    """Publish outputs and logs; writes the JSON result and returns the exit code."""
    env.log_dir.mkdir(parents=True, exist_ok=True)
    log = open_step_log(env.log_dir / "publish.log", "publish")
    storage = open_result_storage(settings, timeout=float(settings.publish_timeout))
    work = Publisher(storage, log)
    try:
        started = time.monotonic()
        log.info("publish started for job %s to %s storage", env.job_id, settings.storage_backend)
        note_stop_reason(env, log)
        used = await _publish_outputs(env, settings, work)
        for item in log_uploads(env):
            await work.upload(item)
        log.info(
            "publish finished in %.2f s: %d file(s), %s of outputs",
            time.monotonic() - started, len(work.files), human_bytes(used),
        )  # fmt: skip
        close_step_log(log)  # publish.log must be complete before it is uploaded
        work.log = None
        path = env.log_dir / "publish.log"
        await work.upload(
            Upload(
                filename="publish.log",
                path=path,
                type="publishLog",
                key=result_key(env.job_id, "publish.log"),
            )
        )
    finally:
        close_step_log(log)
        await storage.close()
        error = "; ".join(work.errors) or None
        write_result(env.result_file, {"files": work.files, "error": error})
    return EXIT_UPLOAD_FAILED if work.failed_uploads else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `operator-argo step publish`; reads the pod environment."""
    del argv  # everything comes from the environment
    try:
        env = read_step_env()
    except ConfigurationError as exc:
        print(f"publish: {exc.message}", file=sys.stderr)
        return EXIT_BAD_ENVIRONMENT
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(f"publish: {exc.message}", file=sys.stderr)
        write_result(env.result_file, {"files": [], "error": exc.message})
        return EXIT_BAD_ENVIRONMENT
    return asyncio.run(run_publish(env, settings))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
