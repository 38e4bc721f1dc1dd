"""Publish's storage settings reach the pod as values or Secret refs; no secret enters the spec."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from argo_builder_support import env_of, steps_of

from operator_argo.config import IpfsSettings, S3Settings, Settings
from operator_argo.domain.environment import Environment, KeySource

Build = Callable[..., dict[str, Any]]
SENTINELS = {
    "s3_access": "AKIA-SENTINEL-ACCESS-5521",
    "s3_secret": "s3-secret-sentinel-9f8e7d",
    "ipfs_key": "ipfs-api-key-sentinel-4411",
    "ipfs_client": "ipfs-client-sentinel-7733",
    "postgres": "pg-password-sentinel-0042",
}


def _publish_env(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return env_of(steps_of(wf)["publish"])


def _ref(item: dict[str, Any]) -> dict[str, Any]:
    ref: dict[str, Any] = item["valueFrom"]["secretKeyRef"]
    return ref


def test_local_backend_without_claim(build: Build, settings: Settings) -> None:
    local = dataclasses.replace(settings, results_dir=Path("/srv/results"))
    wf = build(settings=local)
    env = _publish_env(wf)
    assert env["OPERATOR_STORAGE"]["value"] == "local"
    assert env["OPERATOR_RESULTS_DIR"]["value"] == "/srv/results"
    assert env["OPERATOR_MAX_OUTPUT_BYTES"]["value"] == str(settings.max_output_bytes)
    assert not [name for name in env if name.startswith(("OPERATOR_S3_", "IPFS_", "X_API"))]
    assert "volumes" not in wf["spec"]
    assert "OPERATOR_JOB_SPEC" not in env  # publish needs no spec


def test_local_backend_mounts_the_results_claim(build: Build, settings: Settings) -> None:
    wf = build(settings=dataclasses.replace(settings, results_pvc="operator-results"))
    assert wf["spec"]["volumes"] == [
        {"name": "results", "persistentVolumeClaim": {"claimName": "operator-results"}}
    ]
    publish = steps_of(wf)["publish"]
    mounts = {m["mountPath"]: m["name"] for m in publish["container"]["volumeMounts"]}
    assert mounts["/results"] == "results"
    assert env_of(publish)["OPERATOR_RESULTS_DIR"]["value"] == "/results"
    for name in ("configure", "algorithm"):
        names = {m["name"] for m in steps_of(wf)[name]["container"]["volumeMounts"]}
        assert names == {"job"}


def test_s3_backend(build: Build, settings: Settings) -> None:
    s3 = S3Settings(
        endpoint="store:9000", bucket="b", prefix="p", region="r", secure=False, secret_name="s3c"
    )
    env = _publish_env(build(settings=dataclasses.replace(settings, storage_backend="s3", s3=s3)))
    values = {name: item.get("value") for name, item in env.items()}
    assert values["OPERATOR_STORAGE"] == "s3"
    assert values["OPERATOR_S3_ENDPOINT"] == "store:9000"
    assert values["OPERATOR_S3_BUCKET"] == "b"
    assert values["OPERATOR_S3_PREFIX"] == "p"
    assert values["OPERATOR_S3_REGION"] == "r"
    assert values["OPERATOR_S3_SECURE"] == "0"
    assert _ref(env["OPERATOR_S3_ACCESS_KEY"]) == {"name": "s3c", "key": "accessKey"}
    assert _ref(env["OPERATOR_S3_SECRET_KEY"]) == {"name": "s3c", "key": "secretKey"}
    assert "OPERATOR_RESULTS_DIR" not in env


def test_s3_without_secret_passes_no_credentials(build: Build, settings: Settings) -> None:
    s3 = S3Settings(bucket="b", access_key=SENTINELS["s3_access"])
    env = _publish_env(build(settings=dataclasses.replace(settings, storage_backend="s3", s3=s3)))
    assert "OPERATOR_S3_ACCESS_KEY" not in env
    assert env["OPERATOR_S3_SECURE"]["value"] == "1"


def test_ipfs_backend(build: Build, settings: Settings) -> None:
    ipfs = IpfsSettings(url="http://ipfs:5001", secret_name="ipfs-headers")
    wf = build(settings=dataclasses.replace(settings, storage_backend="ipfs", ipfs=ipfs))
    env = _publish_env(wf)
    assert env["IPFS_URL"]["value"] == "http://ipfs:5001"
    assert _ref(env["X_API_KEY"]) == {"name": "ipfs-headers", "key": "apiKey", "optional": True}
    assert _ref(env["CLIENT_ID"]) == {"name": "ipfs-headers", "key": "clientId", "optional": True}


def test_no_secret_value_anywhere(
    build: Build, settings: Settings, environment: Environment
) -> None:
    """Credentials configured in the operator never appear in any workflow it builds."""
    secret_settings = dataclasses.replace(
        settings,
        postgres_password=SENTINELS["postgres"],
        s3=S3Settings(
            bucket="b",
            access_key=SENTINELS["s3_access"],
            secret_key=SENTINELS["s3_secret"],
            secret_name="s3c",
        ),
        ipfs=IpfsSettings(
            url="http://ipfs:5001",
            api_key=SENTINELS["ipfs_key"],
            client_id=SENTINELS["ipfs_client"],
            secret_name="h",
        ),
    )
    keyed = dataclasses.replace(environment, key=KeySource(env="ENV_PRIVATE_KEY_VARIABLE"))
    for backend in ("local", "s3", "ipfs"):
        wf = build(
            settings=dataclasses.replace(secret_settings, storage_backend=backend),
            environment=keyed,
        )
        text = json.dumps(wf)
        for value in SENTINELS.values():
            assert value not in text, (backend, value)
        assert "ENV_PRIVATE_KEY_VARIABLE" not in text  # where the operator reads it, not pods
        refs = [item for item in _publish_env(wf).values() if "valueFrom" in item]
        assert all("value" not in item for item in refs)
