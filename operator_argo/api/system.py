"""Service routes: info (/), health and readiness probes, metrics, and the admin schema init."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from aiohttp_apigami import docs, response_schema

from operator_argo.api.docs import ErrorSchema, InfoSchema
from operator_argo.api.render import info_object
from operator_argo.config import Settings
from operator_argo.domain.errors import InvalidRequest, OperatorError, Unauthorized, Unavailable
from operator_argo.domain.messages import ADMIN_HEADER_EMPTY, ADMIN_NOT_ALLOWED
from operator_argo.observability.metrics import render_metrics

log = structlog.get_logger(__name__)


class SystemRoutes:
    """Routes that are about the service itself rather than jobs."""

    def __init__(
        self,
        settings: Settings,
        *,
        ready: Callable[[], Awaitable[None]],
        migrate: Callable[[], Awaitable[object]],
    ) -> None:
        self._settings = settings
        self._ready = ready
        self._migrate = migrate
        self._admins = frozenset(admin.lower() for admin in settings.allowed_admins)

    def add_to(self, app: web.Application, prefix: str) -> None:
        app.router.add_get("/", self.info, allow_head=False)
        app.router.add_get("/healthz", self.healthz, allow_head=False)
        app.router.add_get("/readyz", self.readyz, allow_head=False)
        app.router.add_get("/metrics", self.metrics, allow_head=False)
        app.router.add_post(f"{prefix}/pgsqlinit", self.pgsqlinit)

    @docs(tags=["service"], summary="What this service is")
    @response_schema(InfoSchema, 200)
    async def info(self, request: web.Request) -> web.Response:
        return web.json_response(info_object(self._settings))

    async def healthz(self, request: web.Request) -> web.Response:
        """The process is up and its event loop answers."""
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """The process can serve: its database answers."""
        try:
            await self._ready()
        except OperatorError as exc:
            raise Unavailable(f"not ready: {exc.message}") from exc
        except Exception as exc:
            log.warning("readiness_check_failed", error=str(exc), error_type=type(exc).__name__)
            raise Unavailable("not ready") from exc
        return web.json_response({"status": "ok"})

    async def metrics(self, request: web.Request) -> web.Response:
        body, content_type = render_metrics()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    @docs(
        tags=["service"],
        summary="Create or update the database schema (idempotent)",
        responses={
            400: {"description": ADMIN_HEADER_EMPTY, "schema": ErrorSchema},
            401: {"description": "not an admin: " + ADMIN_NOT_ALLOWED, "schema": ErrorSchema},
        },
    )
    async def pgsqlinit(self, request: web.Request) -> web.Response:
        # The original's answers: 400 without the header, 401 for an address not listed.
        admin = request.headers.get("Admin", "").strip().lower()
        if not admin:
            raise InvalidRequest(ADMIN_HEADER_EMPTY)
        if admin not in self._admins:
            raise Unauthorized(ADMIN_NOT_ALLOWED)
        await self._migrate()
        log.info("schema_migrated_by_admin")
        return web.json_response({"status": "ok"})
