"""One step as a child process: its own session, a deadline, stop on request, no orphans left."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import signal
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog

from operator_argo.domain.clock import SYSTEM_CLOCK  # processes run in real time
from operator_argo.engines.local.sandbox import Limits, child_setup

log = structlog.get_logger(__name__)

EXIT_CANNOT_START = 127


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProcessSpec:
    """What to start and how to bound it."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path
    log_file: Path  # stdout and stderr, appended
    pid_file: Path
    deadline: float | None  # seconds from start
    limits: Limits | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProcessOutcome:
    """How a step's process ended. Exit codes of signalled processes are 128 + signal."""

    exit_code: int
    started_at: dt.datetime
    finished_at: dt.datetime
    deadline_exceeded: bool = False
    stopped: bool = False
    error: str | None = None  # it could not be started


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _start_ticks(pid: int) -> int | None:
    """A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _session_members(sid: int, since: int) -> list[int]:
    """Processes in session `sid` started no earlier than `since` (so not a reused id)."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and int(fields[19]) >= since:
            members.append(int(entry.name))
    return members


def kill_leftovers(pid_file: Path) -> int:
    """Kill what remains of the session recorded in `pid_file` (a previous operator's step)."""
    try:
        sid_text, since_text = pid_file.read_text(encoding="ascii").split()
        sid, since = int(sid_text), int(since_text)
    except (OSError, ValueError):
        return 0
    members = _session_members(sid, since)
    for pid in members:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    if members:
        log.warning("leftover_processes_killed", pid_file=str(pid_file), count=len(members))
    return len(members)


async def _terminate(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the process group, then SIGKILL it after `grace` seconds."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        _signal_group(proc.pid, signal.SIGKILL)
        await proc.wait()


async def _spawn(spec: ProcessSpec) -> asyncio.subprocess.Process:
    spec.log_file.parent.mkdir(parents=True, exist_ok=True)
    with spec.log_file.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            *spec.argv,
            env=dict(spec.env),
            cwd=spec.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group: signals reach its children too
            preexec_fn=child_setup(spec.limits),
        )


async def run_process(
    spec: ProcessSpec,
    stop: asyncio.Event,
    *,
    grace: float,
    on_started: Callable[[dt.datetime], None] | None = None,
) -> ProcessOutcome:
    """Run `spec` to its end, its deadline, or until `stop` is set; then clean its group up."""
    started = SYSTEM_CLOCK.now()
    try:
        proc = await _spawn(spec)
    except OSError as exc:
        message = f"cannot start {spec.argv[0]}: {exc.strerror or exc}"
        return ProcessOutcome(
            exit_code=EXIT_CANNOT_START,
            started_at=started,
            finished_at=SYSTEM_CLOCK.now(),
            error=message,
        )
    spec.pid_file.parent.mkdir(parents=True, exist_ok=True)
    spec.pid_file.write_text(f"{proc.pid} {_start_ticks(proc.pid) or 0}\n", encoding="ascii")
    if on_started is not None:
        on_started(started)
    waiter = asyncio.ensure_future(proc.wait())
    stopper = asyncio.ensure_future(stop.wait())
    timed_out = stopped = False
    try:
        done, _ = await asyncio.wait(
            {waiter, stopper}, timeout=spec.deadline, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            stopped = stopper in done
            timed_out = not stopped
            await _terminate(proc, grace)
    except asyncio.CancelledError:
        _signal_group(proc.pid, signal.SIGKILL)
        await asyncio.shield(proc.wait())
        raise
    finally:
        stopper.cancel()
        _signal_group(proc.pid, signal.SIGKILL)  # anything it left behind in its group
        spec.pid_file.unlink(missing_ok=True)
    returncode = proc.returncode if proc.returncode is not None else -int(signal.SIGKILL)
    return ProcessOutcome(
        exit_code=_exit_code(returncode),
        started_at=started,
        finished_at=SYSTEM_CLOCK.now(),
        deadline_exceeded=timed_out,
        stopped=stopped,
    )
