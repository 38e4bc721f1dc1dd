"""The composition root: picks the implementations, wires them, and owns the background tasks.

Lifetime: `open_runtime` enters every resource on one AsyncExitStack, in order (the embedded
PostgreSQL and the pool, the engine, the result reader), and the stack closes them in reverse,
also when start-up fails half-way. `background` runs the long loops as named tasks; a loop that
ends, by raising or by returning, is a crash: the process stops and `serve` exits non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import structlog
from aiohttp import web

from operator_argo.api.listener import listening
from operator_argo.api.server import create_api
from operator_argo.auth.keys import load_private_key, resolve_environment_keys
from operator_argo.auth.notices import EnvironmentSigner
from operator_argo.auth.policy import ProviderAuth
from operator_argo.auth.signatures import ensure_fast_backend, keep_sane_recursion_limit
from operator_argo.config import Settings, load_settings, read_secret_env
from operator_argo.domain.errors import ConfigurationError
from operator_argo.domain.notice import NoticeKind
from operator_argo.domain.ports import Engine, JobStore, ResultWriter
from operator_argo.notify.sender import HttpNoticeSender
from operator_argo.observability.logging import configure_logging
from operator_argo.processes import ChildRole, supervise
from operator_argo.service.janitor import Janitor
from operator_argo.service.jobs import JobService
from operator_argo.service.notifier import Notifier
from operator_argo.service.receipts import ReceiptPublisher
from operator_argo.service.reconciler import Reconciler
from operator_argo.service.scheduler import Scheduler
from operator_argo.storage.factory import open_result_reader
from operator_argo.store.database import Database
from operator_argo.store.lifecycle import job_store, open_database
from operator_argo.store.migrate import migrate
from operator_argo.store.notices import PostgresNoticeStore

log = structlog.get_logger(__name__)

STOP_TIMEOUT = 10.0  # seconds background loops get to stop on shutdown


@dataclasses.dataclass(kw_only=True)
class Runtime:
    """Everything a running operator is made of, opened and closed together (open_runtime)."""

    settings: Settings
    store: JobStore
    engine: Engine
    service: JobService
    scheduler: Scheduler
    reconciler: Reconciler
    janitor: Janitor
    notifier: Notifier | None  # None when no environment sends notices
    ping: Callable[[], Awaitable[None]]  # raises Unavailable when the database is not reachable
    migrate: Callable[[], Awaitable[object]]  # applies pending migrations


def _key_variables(settings: Settings) -> dict[str, str]:
    """The values of the variables environments name as `keyEnv` (kept out of Settings)."""
    names = {env.key.env for env in settings.environments if env.key.env}
    return {name: value for name in names if (value := read_secret_env(name)) is not None}


async def _make_notifier(
    settings: Settings,
    database: Database,
    environ: Mapping[str, str],
    stack: contextlib.AsyncExitStack,
) -> Notifier | None:
    """The notice loop's parts, when an environment has a receiver: the signer (which needs
    those environments' keys, so a missing one stops start-up), the HTTP sender, the store."""
    kinds = (NoticeKind.START, NoticeKind.FINISH)
    notified = set().union(*(settings.notified_environments(kind) for kind in kinds))
    if not notified:
        return None
    signer = EnvironmentSigner.for_environments(
        (env for env in settings.environments if env.id in notified), environ
    )
    sender = HttpNoticeSender(timeout=settings.notify_timeout)
    stack.push_async_callback(sender.close)
    return Notifier(settings, PostgresNoticeStore(database), sender, signer)


def _make_receipts(
    settings: Settings, results: ResultWriter, environ: Mapping[str, str]
) -> ReceiptPublisher:
    """The receipt maker: signs for every environment whose key the operator can read."""
    signer = EnvironmentSigner.where_readable(settings.environments, environ)
    unsigned = [env.id for env in settings.environments if not signer.signs_for(env.id)]
    if unsigned:
        log.info("receipts_unsigned", environments=unsigned, reason="key only in a Secret")
    environments = {env.id: env for env in settings.environments}
    return ReceiptPublisher(results, signer, environments)


async def _make_engine(settings: Settings, environ: Mapping[str, str]) -> Engine:
    """The configured engine; only its own modules are imported (hera and kubernetes are slow)."""
    from operator_argo.engines.argo.builder import build_workflow

    if settings.engine == "argo":
        from operator_argo.engines.argo.engine import ArgoEngine

        return await ArgoEngine.from_settings(settings)
    from operator_argo.engines.local.engine import LocalEngine

    # The local engine runs the very workflow the Argo engine would submit.
    return LocalEngine.from_settings(
        settings, build=build_workflow, key_for=lambda env: load_private_key(env.key, environ)
    )


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, *, role: ChildRole | None = None
) -> AsyncIterator[Runtime]:
    """Start the database (embedded or external), migrate, and build every component; on exit
    close them in reverse order (module docstring). A worker process (`role`, processes.py)
    neither migrates nor sends notices, and hands accepted jobs to the primary's scheduler."""
    ensure_fast_backend()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    environ = _key_variables(settings)
    settings = resolve_environment_keys(settings, environ, generate=settings.engine == "local")
    primary = role is None or role.primary
    async with contextlib.AsyncExitStack() as stack:
        database = await stack.enter_async_context(
            open_database(settings, apply_migrations=primary)
        )
        store = job_store(database, settings)
        engine = await _make_engine(settings, environ)
        stack.push_async_callback(engine.close)
        results = open_result_reader(settings)
        stack.push_async_callback(results.close)
        notifier = await _make_notifier(settings, database, environ, stack) if primary else None
        scheduler = Scheduler(settings, store, engine)
        on_accepted = scheduler.wake if role is None or role.primary else role.wake_primary
        yield Runtime(
            settings=settings,
            store=store,
            engine=engine,
            service=JobService(
                settings,
                store,
                engine,
                results,
                auth=ProviderAuth(settings),
                on_accepted=on_accepted,
            ),
            scheduler=scheduler,
            reconciler=Reconciler(
                store,
                engine,
                results,
                on_finished=scheduler.wake,
                receipts=_make_receipts(settings, results, environ),
            ),
            janitor=Janitor(settings, store, engine, results),
            notifier=notifier,
            ping=database.ping,
            migrate=lambda: migrate(database),
        )


async def _supervise(name: str, loop: Awaitable[None], crashed: asyncio.Event) -> None:
    """Run a background loop; its end, by an error or by returning, stops the process (the
    orchestrator restarts it) rather than leaving it to limp along without that loop."""
    try:
        await loop
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background_task_crashed", task=name)
    else:
        log.error("background_task_returned", task=name)
    crashed.set()


@contextlib.asynccontextmanager
async def background(runtime: Runtime, crashed: asyncio.Event) -> AsyncIterator[None]:
    """Run the scheduler (which first takes over what a previous process left in flight), the
    engine's watch feeding the reconciler, the janitor and (when an environment has a receiver)
    the notice loop; `crashed` is set if one ends."""
    loops = {
        "scheduler": runtime.scheduler.run(),
        "engine": runtime.engine.watch(runtime.reconciler.observe),
        "janitor": runtime.janitor.run(),
    }
    if runtime.notifier is not None:
        loops["notifier"] = runtime.notifier.run()
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


def build_app(runtime: Runtime) -> web.Application:
    """The aiohttp application for `runtime` (background tasks are started separately)."""
    app = create_api(runtime.settings, runtime.service, ready=runtime.ping, migrate=runtime.migrate)
    app.on_startup.append(_keep_recursion_limit)
    return app


async def _keep_recursion_limit(app: web.Application) -> None:
    """The JSON decoder must not follow a deep body until the C stack overflows: bring the
    limit back down should an import since start-up have raised it (auth/signatures.py)."""
    keep_sane_recursion_limit()


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


async def serve(settings: Settings | None = None, *, role: ChildRole | None = None) -> int:
    """`operator-argo serve`: run until SIGINT/SIGTERM (exit 0) or a crashed background task
    (exit 1, so the orchestrator sees the failure and restarts the process). With more than
    one worker this process supervises the serving ones instead (processes.py); `role` is
    that of such a child."""
    settings = settings or load_settings()
    configure_logging(settings)
    if role is None and settings.workers > 1:
        return await supervise(settings)
    stop = asyncio.Event()
    crashed = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    primary = role is None or role.primary
    async with (
        open_runtime(settings, role=role) as runtime,
        background(runtime, crashed) if primary else contextlib.nullcontext(),
        listening(build_app(runtime), settings),
    ):
        if role is not None and role.primary:
            loop.add_signal_handler(signal.SIGUSR1, runtime.scheduler.wake)  # from the workers
            role.report_ready()
        log.info(
            "operator_listening",
            host=settings.host,
            port=settings.port,
            engine=settings.engine,
            event_loop=type(loop).__module__.partition(".")[0],  # "uvloop" or "asyncio"
            background=primary,
        )
        await _first(stop, crashed)
        log.info("operator_stopping", crashed=crashed.is_set())
    return 1 if crashed.is_set() else 0


async def _first(*events: asyncio.Event) -> None:
    """Wait until one of `events` is set."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def migrate_only(settings: Settings | None = None) -> int:
    """`operator-argo migrate`: apply pending migrations and exit."""
    settings = settings or load_settings()
    configure_logging(settings)
    async with open_database(settings, apply_migrations=False) as database:
        applied = await migrate(database)
    log.info("migrations_applied", versions=applied)
    return 0
