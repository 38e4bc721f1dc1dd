"""Kubernetes calls tests make and the operator never does: a create that returns the stored
object (the operator's own create, `submit_workflow`, reads but never decodes it) and a get."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from operator_argo.engines.argo.client import GROUP, PLURAL, VERSION, KubeClient


class TestingKubeClient(KubeClient):
    """The operator's client with two more calls, for tests that set up or inspect workflows."""

    __test__ = False  # not a test class, whatever its name

    async def create_workflow(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a workflow; returns it as the API server stored it."""
        name = (body.get("metadata") or {}).get("name", "")
        call = self._custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, dict(body)
        )
        return await self._call(f"create workflows/{name} in {namespace}", call, collection=True)

    async def get_workflow(self, namespace: str, name: str) -> dict[str, Any]:
        call = self._custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        return await self._call(f"get workflows/{name} in {namespace}", call)
