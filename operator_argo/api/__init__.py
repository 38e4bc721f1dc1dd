"""The aiohttp adapter of the operator API (routes, schemas, middlewares, OpenAPI)."""

from operator_argo.api.server import API_PREFIX, create_api

__all__ = ["API_PREFIX", "create_api"]
