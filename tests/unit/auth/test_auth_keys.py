"""Environment keys: loaded from a file or a variable, generated once (0600), never exposed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from eth_account import Account

from operator_argo.auth.keys import (
    key_file_path,
    load_private_key,
    resolve_environment_key,
    resolve_environment_keys,
)
from operator_argo.config import Settings
from operator_argo.domain.environment import Environment, KeySource
from operator_argo.domain.errors import ConfigurationError


def _env(**key: str) -> Environment:
    return Environment(id="ocean-compute", namespace="ocean-compute", key=KeySource(**key))


def test_key_from_a_file(tmp_path: Path) -> None:
    account = Account.create()
    path = tmp_path / "env.key"
    path.write_text("0x" + bytes(account.key).hex() + "\n")
    env = resolve_environment_key(_env(file=str(path)), {}, tmp_path, generate=True)
    assert env.consumer_address == account.address
    assert env.key.file == str(path)
    assert not (tmp_path / "keys").exists()  # nothing generated


def test_key_from_a_variable_of_the_mapping_given(tmp_path: Path) -> None:
    account = Account.create()
    environ = {"ENV_KEY": bytes(account.key).hex()}
    env = resolve_environment_key(_env(env="ENV_KEY"), environ, tmp_path, generate=False)
    assert env.consumer_address == account.address


def test_errors_never_contain_the_key(tmp_path: Path) -> None:
    secret = "ab" * 31  # one byte short
    with pytest.raises(ConfigurationError) as caught:
        load_private_key(KeySource(env="K"), {"K": secret})
    assert secret not in str(caught.value)
    assert "K" in str(caught.value)


@pytest.mark.parametrize(
    ("source", "environ"),
    [
        (KeySource(env="MISSING"), {}),
        (KeySource(env="EMPTY"), {"EMPTY": " "}),
        (KeySource(file="/nonexistent/dir/key"), {}),
    ],
)
def test_a_named_key_that_is_not_there_stops_start_up(
    source: KeySource, environ: dict[str, str]
) -> None:
    with pytest.raises(ConfigurationError):
        load_private_key(source, environ)


def test_generated_once_with_mode_0600_and_reused(tmp_path: Path) -> None:
    first = resolve_environment_key(_env(), {}, tmp_path, generate=True)
    path = key_file_path(tmp_path, "ocean-compute")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.key.file == str(path)
    assert first.consumer_address.startswith("0x")
    assert len(first.consumer_address) == 42
    second = resolve_environment_key(_env(), {}, tmp_path, generate=True)
    assert second.consumer_address == first.consumer_address
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_without_generate_an_environment_without_key_stays_keyless(tmp_path: Path) -> None:
    env = resolve_environment_key(_env(), {}, tmp_path, generate=False)
    assert env.consumer_address == ""
    assert not (tmp_path / "keys").exists()


def test_a_secret_only_key_is_never_generated(tmp_path: Path) -> None:
    env = resolve_environment_key(_env(secret_name="env-key"), {}, tmp_path, generate=True)
    assert env.consumer_address == ""
    assert not (tmp_path / "keys").exists()


def test_unsafe_environment_ids_stay_inside_the_keys_folder(tmp_path: Path) -> None:
    path = key_file_path(tmp_path, "../../etc/passwd")
    assert path.parent == tmp_path / "keys"


def test_settings_get_every_environment_resolved(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        environments=(
            Environment(id="a", namespace="a"),
            Environment(id="b", namespace="b"),
        ),
    )
    resolved = resolve_environment_keys(settings, {}, generate=True)
    addresses = {env.id: env.consumer_address for env in resolved.environments}
    assert addresses["a"] != addresses["b"]
    assert all(address.startswith("0x") for address in addresses.values())
