"""Fixtures for the Argo engine tests: the fake Kubernetes API and clients pointed at it."""

from tests.fakes.kube import fake_kube, kube_client, kube_settings

__all__ = ["fake_kube", "kube_client", "kube_settings"]
