"""The job-pod environment of the step programs (CONTRACT §8, HELPERS conventions), read once."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path

from operator_argo.config_readers import boolean, positive_number
from operator_argo.domain import names
from operator_argo.domain.errors import ConfigurationError
from operator_argo.domain.job import JobSpec, spec_from_dict

DEFAULT_MAX_INPUT_BYTES = 10 * 1024**3
DEFAULT_HTTP_TIMEOUT = 60.0
DEFAULT_HTTP_RETRIES = 3


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepEnv:
    """What a step program is told by its pod. Sizes are bytes, durations seconds."""

    volume: Path  # VOLUME: job data root
    admin_dir: Path  # OPERATOR_ADMIN_DIR: admin log area the algorithm cannot see
    job_id: str  # OPERATOR_JOB_ID
    result_file: Path  # OPERATOR_RESULT_FILE: where the step writes its JSON result
    spec: JobSpec | None = None  # OPERATOR_JOB_SPEC (configure only)
    env_key: str = dataclasses.field(default="", repr=False)  # OPERATOR_ENV_KEY (configure only)
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES  # OPERATOR_MAX_INPUT_BYTES: all downloads
    http_timeout: float = DEFAULT_HTTP_TIMEOUT  # OPERATOR_HTTP_TIMEOUT: connect and read timeout
    http_retries: int = DEFAULT_HTTP_RETRIES  # OPERATOR_HTTP_RETRIES: attempts per request
    stop_reason: str = ""  # OPERATOR_STOP_REASON (publish): why the operator ended the job early
    filtered: bool = False  # OPERATOR_FILTERED (publish only): outputs need the filter's pass

    @property
    def log_dir(self) -> Path:
        return self.admin_dir / "logs"

    @property
    def filter_dir(self) -> Path:
        """The filtering step's folder: its log and the mark it leaves when it passed."""
        return self.admin_dir / names.FILTER_FOLDER


# What each step program reads from its pod (`operator-argo step NAME --help` prints it).
_COMMON_HELP = """\
  OPERATOR_JOB_ID        the job's id (required)
  VOLUME                 the job's data directory (default /data)
  OPERATOR_ADMIN_DIR     the admin log area the algorithm cannot see (default /admin)
  OPERATOR_RESULT_FILE   where the step writes its JSON result for Argo
                         (default /tmp/operator-argo-result.json)
"""
STEP_HELP = {
    "configure": "environment:\n"
    + _COMMON_HELP
    + f"""\
  OPERATOR_JOB_SPEC      the job's inputs and algorithm as JSON (required)
  OPERATOR_ENV_KEY       the environment's key, which signs provider downloads
  OPERATOR_MAX_INPUT_BYTES  most bytes all downloads together may take
  OPERATOR_HTTP_TIMEOUT  seconds: connect and read timeout of each request
                         (default {DEFAULT_HTTP_TIMEOUT:g})
  OPERATOR_HTTP_RETRIES  attempts per request (default {DEFAULT_HTTP_RETRIES})
""",
    "publish": "environment:\n"
    + _COMMON_HELP
    + """\
  OPERATOR_STORAGE       result storage (local, s3 or ipfs) with its settings, as for
                         `operator-argo serve` (OPERATOR_RESULTS_DIR, OPERATOR_S3_*, IPFS_URL, ...)
  OPERATOR_MAX_OUTPUT_BYTES  most bytes of outputs the job may publish
  OPERATOR_STOP_REASON   why the operator ended the job early (written into the logs)
  OPERATOR_FILTERED      1: the job has a filtering step; outputs are published only when
                         it passed (its mark is in OPERATOR_ADMIN_DIR/filter)
""",
}


def _spec(env: Mapping[str, str], required: bool) -> JobSpec | None:
    raw = env.get("OPERATOR_JOB_SPEC", "").strip()
    if not raw:
        if required:
            raise ConfigurationError("OPERATOR_JOB_SPEC is required")
        return None
    try:
        return spec_from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"OPERATOR_JOB_SPEC is not a valid job spec: {exc}") from None


def read_step_env(env: Mapping[str, str] | None = None, *, need_spec: bool = False) -> StepEnv:
    """Read the step's pod environment (default: this process's); ConfigurationError if bad."""
    env = os.environ if env is None else env
    job_id = env.get("OPERATOR_JOB_ID", "").strip()
    if not job_id:
        raise ConfigurationError("OPERATOR_JOB_ID is required")
    return StepEnv(
        volume=Path(env.get("VOLUME", "").strip() or "/data"),
        admin_dir=Path(env.get("OPERATOR_ADMIN_DIR", "").strip() or "/admin"),
        job_id=job_id,
        result_file=Path(
            env.get("OPERATOR_RESULT_FILE", "").strip() or "/tmp/operator-argo-result.json"  # noqa: S108
        ),
        spec=_spec(env, need_spec),
        env_key=env.get("OPERATOR_ENV_KEY", "").strip(),
        max_input_bytes=int(
            positive_number(env, "OPERATOR_MAX_INPUT_BYTES", DEFAULT_MAX_INPUT_BYTES)
        ),
        http_timeout=positive_number(env, "OPERATOR_HTTP_TIMEOUT", DEFAULT_HTTP_TIMEOUT),
        http_retries=int(positive_number(env, "OPERATOR_HTTP_RETRIES", DEFAULT_HTTP_RETRIES)),
        stop_reason=env.get("OPERATOR_STOP_REASON", "").strip(),
        filtered=boolean(env, "OPERATOR_FILTERED", False),
    )


def write_result(path: Path, result: Mapping[str, object]) -> None:
    """Write the step's JSON result atomically (Argo reads it as the output parameter)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
