"""Serving on every core: a parent that keeps OPERATOR_WORKERS serving processes on one port.

    operator-argo serve --workers N     (the parent: serves nothing, supervises)
     |- primary      HTTP, and the background loops: scheduler, watcher, janitor, notices
     |- worker 2..N  HTTP only; a job one accepts wakes the primary's scheduler (SIGUSR1)

Every child binds the port with SO_REUSEPORT, so the kernel spreads new connections over them.
They write their metrics to one directory (prometheus-client's multiprocess mode), so whichever
answers /metrics shows the replica's sums. The workers start once the primary listens (it has
started the embedded database, if any, and migrated). A worker that exits is replaced; the
primary's exit ends the replica with its exit status, as a single process's crashed loop does
(the orchestrator restarts it). SIGTERM or SIGINT is passed on to every child.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import signal
import sys
import tempfile

import structlog

from operator_argo.config import METRICS_DIRECTORY, Settings, child_environment

log = structlog.get_logger(__name__)

STOP_TIMEOUT = 20.0  # seconds children get to stop before they are killed
READY_TIMEOUT = 300.0  # seconds the primary gets to listen (it may start the database)
RESTART_DELAY = 0.5  # seconds before a worker that exited is replaced


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChildRole:
    """What one serving child of the parent does (hidden `serve` arguments)."""

    primary: bool  # runs the background loops too
    primary_pid: int | None = None  # a worker wakes this process's scheduler
    ready_fd: int | None = None  # the primary writes one byte here once it listens

    def wake_primary(self) -> None:
        """Tell the primary's scheduler that a job was accepted."""
        if self.primary_pid is not None:
            with contextlib.suppress(ProcessLookupError):  # it is ending: the replica ends too
                os.kill(self.primary_pid, signal.SIGUSR1)

    def report_ready(self) -> None:
        """Tell the parent this process listens."""
        if self.ready_fd is not None:
            os.write(self.ready_fd, b"1")
            os.close(self.ready_fd)


class Supervisor:
    """Starts the children, replaces workers that exit, and stops them all."""

    def __init__(self, settings: Settings, metrics_dir: str) -> None:
        self._workers = settings.workers
        self._environment = child_environment({METRICS_DIRECTORY: metrics_dir})
        self._children: dict[int, asyncio.subprocess.Process] = {}

    async def _spawn(
        self, *role: str, pass_fds: tuple[int, ...] = ()
    ) -> asyncio.subprocess.Process:
        # `--workers` too: the children bind the port as one of several whatever set the count.
        workers = ("--workers", str(self._workers))
        command = [sys.executable, "-m", "operator_argo.cli", "serve", *workers, *role]
        child = await asyncio.create_subprocess_exec(
            *command, env=self._environment, pass_fds=pass_fds
        )
        self._children[child.pid] = child
        return child

    async def _start_primary(self) -> asyncio.subprocess.Process:
        """The primary, once it listens; raises RuntimeError when it ends before that."""
        read_end, write_end = os.pipe()
        try:
            primary = await self._spawn(
                "--child", "primary", "--ready-fd", str(write_end), pass_fds=(write_end,)
            )
        finally:
            os.close(write_end)  # the pipe reads end-of-file when the primary ends early
        reader = asyncio.StreamReader()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_end, "rb", buffering=0)
        )
        try:
            ready = await asyncio.wait_for(reader.read(1), READY_TIMEOUT)
        except TimeoutError:
            ready = b""
        finally:
            transport.close()
        if not ready:
            raise RuntimeError("the primary process ended or did not listen in time")
        log.info("serving_process_started", pid=primary.pid, primary=True)
        return primary

    async def _start_worker(self, primary_pid: int) -> None:
        worker = await self._spawn("--child", "worker", "--primary-pid", str(primary_pid))
        log.info("serving_process_started", pid=worker.pid, primary=False)

    async def run(self, stop: asyncio.Event) -> int:
        """Serve until `stop` is set (0) or the primary ends (its exit status)."""
        try:
            primary = await self._start_primary()
        except RuntimeError as exc:
            log.error("primary_process_failed", error=str(exc))
            await self.stop_all()
            return 1
        for _ in range(self._workers - 1):
            await self._start_worker(primary.pid)
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while True:
                waiters = {asyncio.ensure_future(c.wait()): c for c in self._children.values()}
                done, _ = await asyncio.wait(
                    [stopped, *waiters], return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in waiters:
                    waiter.cancel()
                if stopped in done:
                    await self.stop_all()
                    return 0
                for ended in (waiters[w] for w in done):
                    self._children.pop(ended.pid, None)
                    if ended is primary:
                        log.error("primary_process_ended", pid=ended.pid, code=ended.returncode)
                        await self.stop_all()
                        return ended.returncode or 1
                    log.warning("worker_replaced", pid=ended.pid, code=ended.returncode)
                    await asyncio.sleep(RESTART_DELAY)  # a worker failing at once must not spin
                    await self._start_worker(primary.pid)
        finally:
            stopped.cancel()

    async def stop_all(self) -> None:
        """SIGTERM every child; those that do not end in time are killed."""
        children = list(self._children.values())
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.terminate()
        waits = [asyncio.ensure_future(child.wait()) for child in children]
        if not waits:
            return
        _, stuck = await asyncio.wait(waits, timeout=STOP_TIMEOUT)
        for child in children:
            if child.returncode is None:
                log.error("serving_process_killed", pid=child.pid)
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
        if stuck:
            await asyncio.wait(stuck)
        self._children.clear()


async def supervise(settings: Settings) -> int:
    """`operator-argo serve` with more than one worker (module docstring)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    metrics_dir = tempfile.mkdtemp(prefix="operator-argo-metrics-")
    try:
        log.info("serving_processes_starting", workers=settings.workers, port=settings.port)
        return await Supervisor(settings, metrics_dir).run(stop)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
