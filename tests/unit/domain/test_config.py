"""Settings: defaults, environments and clear errors for bad configuration."""

import json

import pytest

from operator_argo.config import PRIVATE_KEY, declarations, load_settings
from operator_argo.domain.errors import ConfigurationError


def test_defaults_build_one_environment_from_the_legacy_variables() -> None:
    settings = load_settings(
        {"DEFAULT_NAMESPACE": "c2d", "ALGO_POD_TIMEOUT": "60", "STORAGE_EXPIRY": "99"}
    )
    assert settings.host == "127.0.0.1" and settings.port == 8050
    assert settings.engine == "local" and settings.embedded_postgres
    (env,) = settings.environments
    assert (env.id, env.namespace, env.max_job_duration, env.storage_expiry) == (
        "c2d",
        "c2d",
        60,
        99,
    )


def test_inline_environments_with_contract_field_names() -> None:
    envs = [
        {
            "id": "cpu",
            "cpuNumber": 2,
            "ramGB": 4,
            "maxJobs": 3,
            "maxJobDuration": 600,
            "allowedChainId": [8996],
        },
        {
            "id": "gpu",
            "gpuNumber": 1,
            "gpuType": "a100",
            "namespace": "gpu-ns",
            "keySecret": {"name": "k", "key": "pk"},
        },
    ]
    settings = load_settings({"OPERATOR_ENVIRONMENTS": json.dumps(envs)})
    cpu, gpu = settings.environments
    assert (cpu.cpu_number, cpu.ram_gb, cpu.max_jobs, cpu.allowed_chain_ids) == (2, 4, 3, (8996,))
    assert cpu.accepts_chain(8996) and not cpu.accepts_chain(1)
    assert (gpu.namespace, gpu.key.secret_name, gpu.key.secret_key) == ("gpu-ns", "k", "pk")
    assert settings.environment("gpu") is gpu and settings.environment("nope") is None


def test_environments_from_a_yaml_file(tmp_path) -> None:
    path = tmp_path / "envs.yaml"
    path.write_text("- id: a\n  maxJobs: 2\n- id: b\n")
    settings = load_settings({"OPERATOR_ENVIRONMENTS": str(path)})
    assert [e.id for e in settings.environments] == ["a", "b"]


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"OPERATOR_PORT": "http"}, "OPERATOR_PORT"),
        ({"OPERATOR_ENGINE": "docker"}, "OPERATOR_ENGINE"),
        ({"OPERATOR_EVENT_LOOP": "trio"}, "OPERATOR_EVENT_LOOP"),
        ({"SIGNATURE_REQUIRED": "maybe"}, "SIGNATURE_REQUIRED"),
        ({"SIGNATURE_REQUIRED": "1"}, "ALLOWED_PROVIDERS"),
        ({"ALLOWED_PROVIDERS": '{"a": 1}'}, "ALLOWED_PROVIDERS"),
        ({"OPERATOR_ENVIRONMENTS": "/nonexistent/envs.yaml"}, "OPERATOR_ENVIRONMENTS"),
        ({"OPERATOR_ENVIRONMENTS": '[{"id": "a", "maxJobs": 0}]'}, "maxJobs"),
        ({"OPERATOR_ENVIRONMENTS": '[{"id": "a", "cpuNumber": "many"}]'}, "cpuNumber"),
        ({"OPERATOR_ENVIRONMENTS": '[{"id": "a"}, {"id": "a"}]'}, "duplicate"),
        ({"OPERATOR_ENVIRONMENTS": '[{"id": "a", "colour": 1}]'}, "colour"),
        ({"OPERATOR_STORAGE": "s3"}, "OPERATOR_S3_BUCKET"),
        ({"OPERATOR_POOL_MIN": "5", "OPERATOR_POOL_MAX": "2"}, "OPERATOR_POOL_MAX"),
        ({"OPERATOR_WORKERS": "0"}, "OPERATOR_WORKERS"),
        ({"OPERATOR_WORKERS": "2"}, "OPERATOR_ENGINE=argo"),  # the default engine is local
    ],
)
def test_bad_configuration_names_the_setting(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigurationError, match=names):
        load_settings(env)


def test_allowed_providers_are_lowercased_and_accept_json_or_commas() -> None:
    a = "0xAbC0000000000000000000000000000000000001"
    assert load_settings({"ALLOWED_PROVIDERS": json.dumps([a])}).allowed_providers == {a.lower()}
    assert load_settings({"ALLOWED_PROVIDERS": f"{a}, 0xdef"}).allowed_providers == {
        a.lower(),
        "0xdef",
    }


def test_ipfs_headers_accept_both_spellings() -> None:
    s = load_settings(
        {
            "OPERATOR_STORAGE": "ipfs",
            "IPFS_URL": "http://127.0.0.1:5001",
            "X_API_KEY": "k",
            "CLIENT-ID": "c",
        }
    )
    assert (s.ipfs.api_key, s.ipfs.client_id) == ("k", "c")


def test_nonce_window_defaults_to_ten_minutes_of_nanoseconds_and_zero_turns_it_off() -> None:
    assert load_settings({}).nonce_window == 600 * 10**9
    assert load_settings({"OPERATOR_NONCE_WINDOW": "0"}).nonce_window == 0
    assert load_settings({"OPERATOR_NONCE_WINDOW": "5"}).nonce_window == 5


class RecordingEnv(dict[str, str]):
    """An environment that remembers every variable asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)


def test_every_variable_read_is_declared_and_every_declaration_is_read() -> None:
    env = RecordingEnv({})
    load_settings(env)
    declared = {name for item in declarations() for name in item.names}
    assert env.asked == declared


SECRETS = {
    "POSTGRES_PASSWORD": "pg-password-3f1c",
    "OPERATOR_S3_SECRET_KEY": "s3-secret-9a7e",
    "OPERATOR_S3_ACCESS_KEY": "s3-access-5d2b",
    "X_API_KEY": "ipfs-key-8c4d",
    "CLIENT_ID": "ipfs-client-1e6f",
}


def test_secret_settings_are_declared_secret_and_kept_out_of_repr() -> None:
    settings = load_settings(SECRETS | {"OPERATOR_STORAGE": "s3", "OPERATOR_S3_BUCKET": "b"})
    assert settings.postgres_password == SECRETS["POSTGRES_PASSWORD"]
    assert settings.s3.secret_key == SECRETS["OPERATOR_S3_SECRET_KEY"]
    assert settings.ipfs.api_key == SECRETS["X_API_KEY"]
    secret = {item.env for item in declarations() if item.secret}
    assert secret == set(SECRETS) | {PRIVATE_KEY.env}
    shown = repr(settings) + str(settings)
    for value in SECRETS.values():
        assert value not in shown
    assert "postgres_port=5432" in shown  # the rest is still there to read
