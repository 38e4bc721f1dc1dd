"""The Helm chart, linted and rendered by the real helm: RBAC, hardening, policies, secrets."""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from operator_argo.config import declarations, load_settings
from operator_argo.domain.notice import NoticeKind

from .conftest import (
    CHART,
    PRODUCTION_VALUES,
    RELEASE_NAMESPACE,
    ROOT,
    Rendered,
    render,
    run_helm,
    settings_env,
)

PRODUCTION = yaml.safe_load(PRODUCTION_VALUES.read_text())
DEFAULTS = yaml.safe_load((CHART / "values.yaml").read_text())
OPERATOR_RULES = [
    {
        "apiGroups": ["argoproj.io"],
        "resources": ["workflows"],
        "verbs": ["create", "get", "list", "watch", "patch", "delete"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]
METADATA_ADDRESS = "169.254.169.254/32"


@pytest.mark.parametrize("values", [[], ["-f", str(PRODUCTION_VALUES)]], ids=["default", "prod"])
def test_lint_strict_passes(helm: str, values: list[str]) -> None:
    result = run_helm(helm, "lint", "--strict", str(CHART), *values)
    assert result.returncode == 0, result.stdout + result.stderr


def test_app_version_follows_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"]


def env_namespaces(values: dict[str, Any]) -> set[str]:
    """Where each environment's jobs run: its own namespace, else the release's."""
    default = values.get("operator", {}).get("defaultNamespace") or RELEASE_NAMESPACE
    return {env.get("namespace") or default for env in values["environments"]}


@pytest.mark.parametrize(
    ("fixture", "values"), [("default_render", DEFAULTS), ("production_render", PRODUCTION)]
)
def test_operator_role_has_exactly_the_engine_verbs_in_each_environment_namespace(
    request: pytest.FixtureRequest, fixture: str, values: dict[str, Any]
) -> None:
    rendered: Rendered = request.getfixturevalue(fixture)
    roles = [r for r in rendered.of_kind("Role") if r["metadata"]["name"] == "c2d-operator-argo"]
    assert {r["metadata"]["namespace"] for r in roles} == env_namespaces(values)
    assert len(roles) == len(env_namespaces(values))
    for role in roles:
        assert role["rules"] == OPERATOR_RULES
    bindings = [
        b for b in rendered.of_kind("RoleBinding") if b["roleRef"]["name"] == "c2d-operator-argo"
    ]
    assert {b["metadata"]["namespace"] for b in bindings} == env_namespaces(values)
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "c2d-operator-argo", "namespace": RELEASE_NAMESPACE}
        ]


def test_executor_account_may_only_report_task_results(production_render: Rendered) -> None:
    roles = [
        r for r in production_render.of_kind("Role") if r["metadata"]["name"].endswith("executor")
    ]
    assert {r["metadata"]["namespace"] for r in roles} == env_namespaces(PRODUCTION)
    for role in roles:
        assert role["rules"] == [
            {
                "apiGroups": ["argoproj.io"],
                "resources": ["workflowtaskresults"],
                "verbs": ["create", "patch"],
            }
        ]


def test_executor_token_secret_in_each_environment_namespace(production_render: Rendered) -> None:
    """Job pods mount no token; Argo mounts the executor's from "<account>.service-account-token",
    which nothing else makes (found on a real node: without it job pods never start)."""
    secrets = [
        s for s in production_render.of_kind("Secret") if s["metadata"]["name"].endswith("-token")
    ]
    assert {s["metadata"]["namespace"] for s in secrets} == env_namespaces(PRODUCTION)
    for secret in secrets:
        account = secret["metadata"]["annotations"]["kubernetes.io/service-account.name"]
        assert secret["metadata"]["name"] == f"{account}.service-account-token"
        assert secret["type"] == "kubernetes.io/service-account-token"
        assert account == "operator-argo-executor"  # the chart's default executor account


def test_no_cluster_wide_rbac(
    helm: str, default_render: Rendered, production_render: Rendered
) -> None:
    bundled = render(
        helm, "--set", "bundledPostgresql.enabled=true", "--set", "createNamespaces=true"
    )
    for rendered in (default_render, production_render, bundled):
        kinds = {doc["kind"] for doc in rendered.docs}
        assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
        for binding in rendered.of_kind("RoleBinding"):
            assert binding["roleRef"]["kind"] == "Role"


def test_every_container_is_non_root_and_locked_down(
    helm: str, production_render: Rendered
) -> None:
    bundled = render(helm, "--set", "bundledPostgresql.enabled=true")
    assert (
        bundled.one("StatefulSet")
        and bundled.one("Deployment")["spec"]["template"]["spec"]["initContainers"]
    )
    checked = 0
    for rendered in (production_render, bundled):
        for name, spec in rendered.pod_specs():
            assert spec["securityContext"]["runAsNonRoot"] is True, name
            assert spec["securityContext"]["runAsUser"] == 10001, name
            assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
            for container in spec["containers"] + spec.get("initContainers", []):
                context = container["securityContext"]
                assert context["runAsNonRoot"] is True, name
                assert context["allowPrivilegeEscalation"] is False, name
                assert context["readOnlyRootFilesystem"] is True, name
                assert context["capabilities"] == {"drop": ["ALL"]}, name
                mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
                assert "/tmp" in mounts, f"{name}/{container['name']} has no writable /tmp"
                checked += 1
    assert checked >= 4  # server, migrate job, bundled server + init container, database


def test_server_data_dir_is_a_writable_volume(production_render: Rendered) -> None:
    spec = production_render.one("Deployment")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    data_dir = production_render.server_env()["OPERATOR_DATA_DIR"]["value"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == data_dir)
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert "emptyDir" in volume


def policies(rendered: Rendered, suffix: str) -> dict[str, dict[str, Any]]:
    found = [p for p in rendered.of_kind("NetworkPolicy") if p["metadata"]["name"].endswith(suffix)]
    return {p["metadata"]["labels"]["operator-argo/environment"]: p for p in found}


def test_algorithm_gets_no_egress_by_default(default_render: Rendered) -> None:
    # The default environment runs its jobs in the release namespace.
    policy = policies(default_render, "-algorithm")["ocean-compute"]
    assert policy["metadata"]["namespace"] == RELEASE_NAMESPACE
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "operator-argo/environment": "ocean-compute",
        "operator-argo/step": "algorithm",
    }
    assert "Egress" in policy["spec"]["policyTypes"]
    assert policy["spec"]["egress"] == []


def test_algorithm_without_network_reaches_only_the_kubernetes_api(
    production_render: Rendered,
) -> None:
    policy = policies(production_render, "-algorithm")["cpu"]
    assert "Egress" in policy["spec"]["policyTypes"]
    (rule,) = policy["spec"]["egress"]
    assert rule["to"] == [{"ipBlock": {"cidr": "172.18.0.2/32"}}]
    assert {p["port"] for p in rule["ports"]} == {443, 6443}


def test_algorithm_of_a_network_environment_gets_the_open_egress(
    production_render: Rendered,
) -> None:
    gpu = policies(production_render, "-algorithm")["gpu"]
    steps = policies(production_render, "-steps")["gpu"]
    assert gpu["spec"]["egress"] == steps["spec"]["egress"]


def test_a_filtering_step_gets_no_egress_even_where_the_algorithm_may(helm: str) -> None:
    rendered = render(
        helm,
        "--set", "environments[0].id=open,environments[0].allowNetwork=true",
        "--set", "environments[0].filter.image=filters/x:1",
        "--set", "environments[0].filter.command[0]=rm",
        "--set", "networkPolicy.kubernetesApi.cidrs[0]=10.9.0.1/32",
    )  # fmt: skip
    policy = policies(rendered, "-filter")["open"]
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "operator-argo/environment": "open",
        "operator-argo/step": "filter",
    }
    (rule,) = policy["spec"]["egress"]
    assert rule["to"] == [{"ipBlock": {"cidr": "10.9.0.1/32"}}]
    assert len(policies(rendered, "-algorithm")["open"]["spec"]["egress"]) > 1  # open egress
    assert policies(render(helm), "-filter") == {}  # no filtering step, no policy for one


def test_configure_and_publish_may_not_reach_metadata_or_cluster_ranges(
    production_render: Rendered,
) -> None:
    by_env = policies(production_render, "-steps")
    assert set(by_env) == {"cpu", "gpu"}
    for env_id, policy in by_env.items():
        selector = policy["spec"]["podSelector"]
        assert selector["matchLabels"] == {"operator-argo/environment": env_id}
        assert selector["matchExpressions"] == [
            {"key": "operator-argo/step", "operator": "In", "values": ["configure", "publish"]}
        ]
        blocks = [t["ipBlock"] for r in policy["spec"]["egress"] for t in r["to"] if "ipBlock" in t]
        (internet,) = [b for b in blocks if b["cidr"] == "0.0.0.0/0"]
        assert internet["except"] == [
            METADATA_ADDRESS,
            *PRODUCTION["networkPolicy"]["clusterCIDRs"],
        ]
        dns = [
            r for r in policy["spec"]["egress"] if any("namespaceSelector" in t for t in r["to"])
        ]
        assert {(p["protocol"], p["port"]) for p in dns[0]["ports"]} == {("UDP", 53), ("TCP", 53)}


SECRET_ENV = re.compile(r"PASSWORD|SECRET_KEY|ACCESS_KEY|ALLOWED_|X_API_KEY|CLIENT_ID")


def test_production_takes_every_secret_from_existing_secrets(production_render: Rendered) -> None:
    # Every value comes from existing Secrets; the chart makes only the executor's token Secrets,
    # which Kubernetes fills in.
    for secret in production_render.of_kind("Secret"):
        assert secret["type"] == "kubernetes.io/service-account-token"
        assert "data" not in secret and "stringData" not in secret
    env = production_render.server_env()
    secret_vars = {name: item for name, item in env.items() if SECRET_ENV.search(name)}
    assert set(secret_vars) >= {
        "POSTGRES_PASSWORD",
        "ALLOWED_PROVIDERS",
        "ALLOWED_ADMINS",
        "OPERATOR_S3_ACCESS_KEY",
        "OPERATOR_S3_SECRET_KEY",
    }
    for name, item in secret_vars.items():
        assert "value" not in item, f"{name} is inline"
        assert "secretKeyRef" in item["valueFrom"], name
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "operator-argo-db",
        "key": "postgres-password",
    }
    assert env["OPERATOR_S3_SECRET"]["value"] == "operator-argo-s3"
    job = production_render.one("Job", "-migrate")["spec"]["template"]["spec"]
    job_env = {e["name"]: e for e in job["containers"][0]["env"]}
    assert job_env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "operator-argo-db"


def test_environment_keys_reach_the_operator_as_files_and_pods_as_secret_names(
    production_render: Rendered,
) -> None:
    config = production_render.one("ConfigMap", "-environments")
    envs = {e["id"]: e for e in yaml.safe_load(config["data"]["environments.yaml"])["environments"]}
    assert envs["gpu"]["keySecret"] == {"name": "c2d-gpu-key", "key": "private-key"}
    assert envs["cpu"]["keySecret"] == {"name": "c2d-cpu-key", "key": "key"}
    spec = production_render.one("Deployment")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    for env in envs.values():
        volume = volumes[mounts[str(Path(env["keyFile"]).parent)]]
        assert volume["secret"]["secretName"] == env["keySecret"]["name"]
        assert volume["secret"]["items"] == [{"key": env["keySecret"]["key"], "path": "key"}]


def test_chart_made_secrets_keep_values_out_of_pod_specs(helm: str) -> None:
    password, key = "pw-not-inline-9f3", "ab" * 32
    rendered = render(
        helm,
        "--set",
        "postgresql.host=db",
        "--set",
        f"postgresql.password={password}",
        "--set",
        f"environments[0].id=cpu,environments[0].namespace=jobs,environments[0].key.privateKey={key}",
        "--set",
        "storage.backend=ipfs",
        "--set",
        "storage.ipfs.url=http://ipfs:5001",
        "--set",
        "storage.ipfs.apiKey=api-secret-77",
    )
    for doc in rendered.docs:
        if doc["kind"] != "Secret":
            text = yaml.safe_dump(doc)
            for value in (password, key, "api-secret-77"):
                assert value not in text, f"{value} inline in {doc['kind']}"
    secrets = {
        (s["metadata"]["namespace"], s["metadata"]["name"]) for s in rendered.of_kind("Secret")
    }
    # Job pods read Secrets of their own namespace only: key and storage copies go to both.
    assert ("jobs", "c2d-operator-argo-key-cpu") in secrets
    assert (RELEASE_NAMESPACE, "c2d-operator-argo-key-cpu") in secrets
    assert ("jobs", "c2d-operator-argo-storage") in secrets
    hook_secret = rendered.one("Secret", "-migrate")
    assert base64.b64decode(hook_secret["data"]["password"]).decode() == password
    assert "pre-install" in hook_secret["metadata"]["annotations"]["helm.sh/hook"]


def test_migration_hook_runs_migrate_before_install_and_upgrade(
    production_render: Rendered,
) -> None:
    job = production_render.one("Job", "-migrate")
    hooks = set(job["metadata"]["annotations"]["helm.sh/hook"].split(","))
    assert hooks == {"pre-install", "pre-upgrade"}
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    assert container["image"] == "images.example.com/ocean/operator-argo:0.1.0"


def test_bundled_database_migrates_in_an_init_container(helm: str) -> None:
    rendered = render(helm, "--set", "bundledPostgresql.enabled=true")
    assert rendered.of_kind("Job") == []  # no pre-install hook: the database does not exist yet
    spec = rendered.one("Deployment")["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    assert init["args"] == ["migrate"]
    env = rendered.server_env()
    assert env["POSTGRES_HOST"]["value"] == "c2d-operator-argo-postgresql"
    assert (
        env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"]
        == "c2d-operator-argo-postgresql"
    )


def test_probes_and_resources(production_render: Rendered) -> None:
    container = production_render.one("Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "512Mi"}
    assert production_render.one("Deployment")["spec"]["replicas"] == 2


def test_production_extras(production_render: Rendered) -> None:
    monitor = production_render.one("ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    pdb = production_render.one("PodDisruptionBudget")
    deployment = production_render.one("Deployment")
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    env = production_render.server_env()
    assert (
        env["OPERATOR_STEP_IMAGE"]["value"]
        == deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    )
    assert env["OPERATOR_ENGINE"]["value"] == "argo"
    assert env["OPERATOR_HOST"]["value"] == "0.0.0.0"
    assert env["LOG_FORMAT"]["value"] == "json"


def config_env_names() -> set[str]:
    """Every environment variable name a declared setting is read from (and its aliases)."""
    return {name for declared in declarations() for name in declared.names}


# Read by config.py but deliberately not set by the chart, with the reason.
NOT_SET_BY_CHART = {
    "KUBECONFIG": "in-cluster configuration",
    "OPERATOR_PRIVATE_KEY": "keys come per environment from Secrets",
    "AWS_ACCESS_KEY_ID": "alias of OPERATOR_S3_ACCESS_KEY",
    "AWS_SECRET_ACCESS_KEY": "alias of OPERATOR_S3_SECRET_KEY",
    "X-API-KEY": "set as X_API_KEY (dashes are not portable in env var names)",
    "CLIENT-ID": "set as CLIENT_ID",
}


def test_chart_sets_every_setting_of_config(helm: str, production_render: Rendered) -> None:
    renders = [
        production_render,
        render(helm),
        render(
            helm,
            "--set",
            "storage.backend=ipfs",
            "--set",
            "storage.ipfs.url=http://ipfs:5001",
            "--set",
            "storage.ipfs.apiKey=k",
            "--set",
            "logging.config.version=1",
        ),
    ]
    chart_names = set().union(*(set(r.server_env()) for r in renders))
    missing = config_env_names() - set(NOT_SET_BY_CHART) - chart_names
    assert not missing, f"config.py settings the chart does not set: {sorted(missing)}"


def test_rendered_settings_load(production_render: Rendered, tmp_path: Path) -> None:
    """The plain env values and the environments file the chart renders pass load_settings."""
    provider = '["0x2222222222222222222222222222222222222222"]'
    env = settings_env(production_render, tmp_path, ALLOWED_PROVIDERS=provider)
    settings = load_settings(env)
    assert settings.engine == "argo"
    assert settings.storage_backend == "s3"
    assert settings.s3.secret_name == "operator-argo-s3"
    gpu = settings.environment("gpu")
    assert gpu is not None and gpu.gpu_number == 1 and gpu.allow_network
    assert gpu.namespace == "c2d-gpu"
    assert gpu.key.secret_name == "c2d-gpu-key" and gpu.key.secret_key == "private-key"
    assert gpu.placement.node_selector == {"node-pool": "gpu"}
    assert gpu.placement.tolerations[0]["key"] == "dedicated"
    assert (gpu.placement.runtime_class_name, gpu.placement.image_pull_secrets) == (
        "nvidia",
        ("algorithm-images",),
    )
    assert settings.notify_stop_url == "https://billing.example.com/c2d/stop"
    assert settings.notified_environments(NoticeKind.START) == {"cpu"}
    assert settings.notified_environments(NoticeKind.FINISH) == {"cpu", "gpu"}
    cpu = settings.environment("cpu")
    assert cpu is not None and cpu.allowed_chain_ids == (1, 137)
    assert cpu.filter is not None and cpu.filter.command == ("python", "/filter/redact.py")


def test_the_listener_and_database_bounds_reach_the_server(helm: str, tmp_path: Path) -> None:
    rendered = render(
        helm,
        "--set-json",  # --set would pass 2.5 as a string
        "operator.headerTimeout=2.5",
        "--set",
        "operator.bodyTimeout=7",
        "--set",
        "operator.maxConnections=64",
        "--set",
        "operator.workers=2",
        "--set-json",
        "postgresql.timeout=0.5",
    )
    settings = load_settings(settings_env(rendered, tmp_path))
    assert (settings.header_timeout, settings.body_timeout) == (2.5, 7.0)
    assert (settings.max_connections, settings.db_timeout) == (64, 0.5)
    assert settings.workers == 2
    defaults = load_settings(settings_env(render(helm), tmp_path))
    assert (defaults.header_timeout, defaults.body_timeout) == (10.0, 30.0)
    assert (defaults.max_connections, defaults.db_timeout) == (512, 2.0)
    assert defaults.workers == 1


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ("replicaCount=x", "replicaCount"),
        ("replicaCount=0", "replicaCount"),
        ("operator.engine=kubernetes", "engine"),
        ("storage.backend=ftp", "backend"),
        ("logging.format=xml", "format"),
        ("environments[0].cpuNumber=-1", "cpuNumber"),
        ("environments[0].id=Not_A_Label", "id"),
        ("environments[0].gpuCount=1", "gpuCount"),
        ("environments[0].filter.command[0]=rm", "image"),
        ("environments[0].filter.image=f:1", "command"),
        ("environments[0].imagePullPolicy=Sometimes", "imagePullPolicy"),
        ("notify.startUrl=ftp://billing/start", "startUrl"),
        ("environments[0].notifyStopUrl=billing/stop", "notifyStopUrl"),
        ("environments[0].tolerations[0].operatr=Exists", "operatr"),
        ("auth.allowedProviders[0]=not-an-address", "allowedProviders"),
        ("replicas=2", "replicas"),
        ("operator.headerTimeout=0", "headerTimeout"),
        ("operator.maxConnections=0", "maxConnections"),
        ("operator.workers=0", "workers"),
        ("postgresql.timeout=-1", "timeout"),
    ],
)
def test_schema_rejects_bad_values(helm: str, override: str, complaint: str) -> None:
    result = run_helm(helm, "template", "c2d", str(CHART), "--set", override)
    assert result.returncode != 0
    assert complaint in result.stderr


TWO_SAME_IDS = {
    "environments": [{"id": "a", "namespace": "ns-a"}, {"id": "a", "namespace": "ns-b"}]
}


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"auth": {"signatureRequired": True}}, "allowedProviders"),
        ({"replicaCount": 2}, "shared database"),
        ({"storage": {"backend": "s3"}}, "bucket"),
        ({"storage": {"backend": "ipfs"}}, "ipfs.url"),
        ({"postgresql": {"host": "db"}, "bundledPostgresql": {"enabled": True}}, "not both"),
        (TWO_SAME_IDS, "twice"),
        # Found on a real node: job pods cannot mount a claim of another namespace.
        (
            {"environments": [{"id": "a", "namespace": "elsewhere"}]},
            'local result storage is a volume claim in the release namespace "default"',
        ),
        ({"notify": {"stopUrl": "https://receiver.example.com/stop"}}, "sends notices"),
        ({"operator": {"keepFinished": 3600, "keepFailed": 60}}, "keepFailed"),
    ],
)
def test_chart_rejects_inconsistent_values(
    helm: str, tmp_path: Path, values: dict[str, Any], complaint: str
) -> None:
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    result = run_helm(helm, "template", "c2d", str(CHART), "-f", str(values_file))
    assert result.returncode != 0
    assert complaint in result.stderr


def test_notes_tell_how_to_reach_the_api_and_the_argo_ui(helm: str) -> None:
    result = run_helm(
        helm, "install", "c2d", str(CHART), "-n", RELEASE_NAMESPACE, "--dry-run=client",
        "-f", str(PRODUCTION_VALUES),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    notes = result.stdout[result.stdout.index("NOTES:") :]
    assert f"kubectl -n {RELEASE_NAMESPACE} port-forward svc/c2d-operator-argo 8050:8050" in notes
    assert "kubectl -n argo port-forward svc/argo-server 2746:2746" in notes
    assert "app.kubernetes.io/managed-by=operator-argo" in notes
    assert "c2d-cpu, c2d-gpu" in notes
    assert "WARNING" not in notes  # production values: signatures on, external database
