"""The aiohttp application of the operator API: routes, middlewares, OpenAPI and Swagger UI.

`create_api` only wires what it is given; app.py composes the real store, engine, storage and
background tasks around it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from operator_argo.api.body import (
    BODY_TIMEOUT_KEY,
    MAX_BODY_KEY,
    MAX_DEPTH_KEY,
    body_limits_middleware,
)
from operator_argo.api.compute import ComputeRoutes
from operator_argo.api.docs import setup_openapi
from operator_argo.api.logs import LogRoutes
from operator_argo.api.middlewares import (
    error_middleware,
    metrics_middleware,
    request_id_middleware,
)
from operator_argo.api.results import ResultRoutes
from operator_argo.api.system import SystemRoutes
from operator_argo.config import Settings
from operator_argo.service.jobs import JobService

API_PREFIX = "/api/v1/operator"


async def _no_migrations() -> None:
    """Default for `migrate` when the caller has no database schema to manage."""


def create_api(
    settings: Settings,
    service: JobService,
    *,
    ready: Callable[[], Awaitable[None]],
    migrate: Callable[[], Awaitable[object]] = _no_migrations,
) -> web.Application:
    """The operator API. `ready` raises when the service cannot serve (database down);
    `migrate` applies the database migrations (POST /pgsqlinit)."""
    app = web.Application(
        middlewares=[
            request_id_middleware,
            metrics_middleware,
            error_middleware,
            body_limits_middleware,
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[MAX_BODY_KEY] = settings.max_body_bytes
    app[MAX_DEPTH_KEY] = settings.max_json_depth
    app[BODY_TIMEOUT_KEY] = settings.body_timeout
    ComputeRoutes(settings, service).add_to(app, API_PREFIX)
    ResultRoutes(service).add_to(app, API_PREFIX)
    LogRoutes(service).add_to(app, API_PREFIX)
    SystemRoutes(settings, ready=ready, migrate=migrate).add_to(app, API_PREFIX)
    setup_openapi(app, settings)
    return app
