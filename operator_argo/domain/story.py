"""A job's story for its consumer: why it failed or was cut short, in words safe to show.

The stored `error` is written for operators and may quote a cluster, a registry or a provider
verbatim. What the status object shows is built from it and from the job's own facts (its stop
reason, how the algorithm ended), with URLs, network addresses and anything shaped like a key
or a token taken out, and kept short.
"""

from __future__ import annotations

import re

from operator_argo.domain.job import Job
from operator_argo.domain.status import JobStatus, StopReason

MAX_PUBLIC_ERROR = 300  # characters of the status object's `error`

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
_ADDRESS = re.compile(
    r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b|\[[0-9A-Fa-f]*:[0-9A-Fa-f:.]+\](?::\d+)?"
)
# 32 bytes of hex (a private key, a token) unless it is an image or content digest.
_KEY = re.compile(r"(?<![0-9A-Za-z:])(?:0x)?[0-9A-Fa-f]{64}(?![0-9A-Za-z])")
_CREDENTIAL = re.compile(
    r"(?i)\b(bearer\s+|basic\s+|(?:token|password|secret|signature|api[-_]?key)\s*[:=]\s*)"
    r"[^\s,;\"']+"
)

_FAILED = {
    JobStatus.DATA_FAILED: "an input could not be fetched",
    JobStatus.ALGORITHM_FAILED: "the algorithm could not be fetched",
}


def redact(text: str) -> str:
    """`text` without URLs, network addresses, key-shaped hex or credentials, at most
    MAX_PUBLIC_ERROR characters."""
    text = _URL.sub("<url>", text)
    text = _CREDENTIAL.sub(lambda m: f"{m[1]}<redacted>", text)
    text = _KEY.sub("<redacted>", text)
    text = _ADDRESS.sub("<address>", text)
    text = " ".join(text.split())
    if len(text) > MAX_PUBLIC_ERROR:
        text = text[: MAX_PUBLIC_ERROR - 1].rstrip() + "\u2026"
    return text


def _stop(job: Job) -> str | None:
    if job.stopreq is StopReason.REQUESTED:
        started = job.algorithm_started_at is not None
        return "stopped on request" + ("" if started else " before the algorithm started")
    if job.stopreq is StopReason.DEADLINE:
        return "stopped: the time limit ran out"
    return None


def _algorithm_end(job: Job, stopped: bool) -> str | None:
    termination = job.termination
    if termination is None:
        return None
    if termination.oom_killed:
        return "the algorithm ran out of memory (OOMKilled)"
    if stopped or termination.exit_code in (None, 0):
        return None  # a stopped algorithm is killed: its exit code says only that
    return f"the algorithm exited with code {termination.exit_code}"


def public_error(job: Job) -> str | None:
    """Why a finished job failed or was cut short, or None when it ran through (or runs)."""
    if not job.is_finished:
        return None
    stored = redact(job.error) if job.error else None
    if job.status in _FAILED:
        return stored or _FAILED[job.status]
    stop = _stop(job)
    parts = [stop, _algorithm_end(job, stop is not None), stored]
    text = "; ".join(dict.fromkeys(part for part in parts if part))
    return redact(text) if text else None
