"""The composition root: picks the implementations, wires them, and owns the background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import structlog
from aiohttp import web

from operator_argo.api.server import create_api
from operator_argo.auth.keys import load_private_key, resolve_environment_keys
from operator_argo.auth.policy import ProviderAuth
from operator_argo.auth.signatures import ensure_fast_backend
from operator_argo.config import Settings, load_settings, read_secret_env
from operator_argo.domain.errors import ConfigurationError, TransientEngineError
from operator_argo.domain.ports import Engine
from operator_argo.observability.logging import configure_logging
from operator_argo.service.janitor import Janitor
from operator_argo.service.jobs import JobService
from operator_argo.service.reconciler import Reconciler
from operator_argo.service.scheduler import Scheduler
from operator_argo.storage.factory import open_result_reader
from operator_argo.store.database import Database
from operator_argo.store.jobs import PostgresJobStore
from operator_argo.store.lifecycle import job_store, open_database
from operator_argo.store.migrate import migrate

log = structlog.get_logger(__name__)

STOP_TIMEOUT = 10.0  # seconds background loops get to stop on shutdown


@dataclasses.dataclass(kw_only=True)
class Runtime:
    """Everything a running operator is made of, opened and closed together."""

    settings: Settings
    database: Database
    store: PostgresJobStore
    engine: Engine
    service: JobService
    auth: ProviderAuth
    scheduler: Scheduler
    reconciler: Reconciler
    janitor: Janitor
    close_engine: Callable[[], Awaitable[None]]

    async def migrate(self) -> None:
        await migrate(self.database)

    async def ping(self) -> None:
        await self.database.ping()


def _key_variables(settings: Settings) -> dict[str, str]:
    """The values of the variables environments name as `keyEnv` (kept out of Settings)."""
    names = {env.key.env for env in settings.environments if env.key.env}
    return {name: value for name in names if (value := read_secret_env(name)) is not None}


async def _make_engine(settings: Settings, environ: Mapping[str, str]) -> Engine:
    if settings.engine == "argo":
        from operator_argo.engines.argo.engine import ArgoEngine

        return await ArgoEngine.from_settings(settings)
    from operator_argo.engines.local.engine import LocalEngine

    return LocalEngine.from_settings(
        settings, key_for=lambda env: load_private_key(env.key, environ)
    )


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Start the database (embedded or external), migrate, and build every component."""
    ensure_fast_backend()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    environ = _key_variables(settings)
    settings = resolve_environment_keys(settings, environ, generate=settings.engine == "local")
    async with open_database(settings) as database:
        store = job_store(database, settings)
        engine = await _make_engine(settings, environ)
        results = open_result_reader(settings)
        scheduler = Scheduler(settings, store, engine)
        runtime = Runtime(
            settings=settings,
            database=database,
            store=store,
            engine=engine,
            service=JobService(settings, store, engine, results, on_accepted=scheduler.wake),
            auth=ProviderAuth(settings, store),
            scheduler=scheduler,
            reconciler=Reconciler(store, engine, results, on_finished=scheduler.wake),
            janitor=Janitor(settings, store, engine, results),
            close_engine=getattr(engine, "close", _nothing),
        )
        try:
            yield runtime
        finally:
            await runtime.close_engine()


async def _nothing() -> None:
    return None


async def _supervise(name: str, loop: Awaitable[None], crashed: asyncio.Event) -> None:
    """Run a background loop; a crash stops the process (the orchestrator restarts it)."""
    try:
        await loop
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background_task_crashed", task=name)
        crashed.set()


@contextlib.asynccontextmanager
async def background(runtime: Runtime, crashed: asyncio.Event) -> AsyncIterator[None]:
    """Run the scheduler, the engine's watcher feeding the reconciler, and the janitor."""
    await _resume(runtime)
    loops = {
        "scheduler": runtime.scheduler.run(),
        "engine": runtime.engine.run(runtime.reconciler.observe),
        "janitor": runtime.janitor.run(),
    }
    tasks = [asyncio.create_task(_supervise(n, c, crashed), name=n) for n, c in loops.items()]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        # Bounded: shutting down must not hang on a loop that does not stop.
        _, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
        for task in stuck:
            log.error("background_task_did_not_stop", task=task.get_name())


async def _resume(runtime: Runtime) -> None:
    """Hand jobs that were in flight when the operator last stopped back to the engine."""
    resume = getattr(runtime.engine, "resume", None)
    if resume is None:
        # Argo keeps running workflows itself and the watcher's first list catches up; only a
        # claim whose workflow was never recorded needs its (idempotent) submission again.
        try:
            await runtime.scheduler.resubmit_unrecorded()
        except TransientEngineError as exc:
            log.warning("engine_unavailable", error=exc.message)
        return
    jobs = await runtime.store.jobs_to_resume()
    if jobs:
        log.info("jobs_resumed", count=len(jobs))
        await resume(jobs, runtime.settings.environments)


def build_app(runtime: Runtime) -> web.Application:
    """The aiohttp application for `runtime` (background tasks are started separately)."""
    return create_api(
        runtime.settings,
        runtime.service,
        runtime.auth,
        ready=runtime.ping,
        migrate=runtime.migrate,
    )


def event_loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop `serve` runs on: uvloop unless told otherwise or not installed (None = asyncio's).

    uvloop costs a fifth less CPU per signed API request (bench/README.md, "API").
    """
    if settings.event_loop == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if settings.event_loop == "uvloop":
            raise ConfigurationError(
                "OPERATOR_EVENT_LOOP=uvloop, but uvloop is not installed"
            ) from None
        return None
    return uvloop.new_event_loop


async def serve(settings: Settings | None = None) -> int:
    """`operator-argo serve`: run until SIGINT/SIGTERM or a crashed background task."""
    settings = settings or load_settings()
    configure_logging(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with open_runtime(settings) as runtime, background(runtime, stop):
        runner = web.AppRunner(build_app(runtime), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        log.info(
            "operator_listening",
            host=settings.host,
            port=settings.port,
            engine=settings.engine,
            event_loop=type(loop).__module__.partition(".")[0],  # "uvloop" or "asyncio"
        )
        await stop.wait()
        log.info("operator_stopping")
        await runner.cleanup()
    return 0


async def migrate_only(settings: Settings | None = None) -> int:
    """`operator-argo migrate`: apply pending migrations and exit."""
    settings = settings or load_settings()
    configure_logging(settings)
    async with open_database(settings, apply_migrations=False) as database:
        applied = await migrate(database)
    log.info("migrations_applied", versions=applied)
    return 0
