"""Environment keys: load each environment's private key, derive its address, never expose it.

An environment's key signs the configure step's downloads from providers; the operator only
needs its address (`consumerAddress` of GET /environments). Keys come from a file or an
environment variable (read from a mapping the caller passes: config.py owns os.environ). On the
embedded defaults an environment without a key gets one generated under <data_dir>/keys.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path

import structlog
from eth_account import Account

from operator_argo.config import Settings
from operator_argo.domain.environment import Environment, KeySource
from operator_argo.domain.errors import ConfigurationError

log = structlog.get_logger(__name__)

_KEY = re.compile(r"^(?:0x)?([0-9a-fA-F]{64})$")
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def parse_private_key(text: str, where: str) -> str:
    """A 32-byte hex key as 0x-prefixed lowercase hex; the error names `where`, never the key."""
    match = _KEY.match(text.strip())
    if match is None:
        raise ConfigurationError(f"{where} does not hold a 32-byte hex private key")
    return "0x" + match.group(1).lower()


def address_of(private_key: str) -> str:
    """The checksummed address of a private key."""
    return str(Account.from_key(private_key).address)


def load_private_key(source: KeySource, environ: Mapping[str, str]) -> str | None:
    """The key `source` names (file or environment variable), or None if it names neither."""
    if source.file:
        try:
            text = Path(source.file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read key file {source.file}: {exc.strerror}"
            ) from None
        return parse_private_key(text, f"key file {source.file}")
    if source.env:
        value = environ.get(source.env, "")
        if not value.strip():
            raise ConfigurationError(f"environment variable {source.env} holds no private key")
        return parse_private_key(value, f"environment variable {source.env}")
    return None


def key_file_path(data_dir: Path, env_id: str) -> Path:
    """Where a generated key of environment `env_id` lives."""
    return data_dir / "keys" / f"{_UNSAFE_FILE_CHARS.sub('_', env_id)}.key"


def generated_key(path: Path) -> str:
    """The key stored at `path`, created (mode 0600) with a fresh random key if missing."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        # Write a private temporary file, then link it into place: a concurrent starter either
        # wins the link or reads the complete file the winner linked.
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(bytes(Account.create().key).hex() + "\n")
        try:
            os.link(temporary, path)
            log.info("environment_key_generated", path=str(path))
        except FileExistsError:
            pass  # another process generated it first: use theirs
        finally:
            temporary.unlink()
    return parse_private_key(path.read_text(encoding="utf-8"), f"key file {path}")


def resolve_environment_key(
    env: Environment, environ: Mapping[str, str], data_dir: Path, *, generate: bool
) -> Environment:
    """`env` with `consumer_address` derived from its key. With `generate`, an environment that
    names no key gets a generated one and a KeySource pointing at its file. An environment whose
    key lives only in a Kubernetes Secret keeps the address it was configured with."""
    key = load_private_key(env.key, environ)
    source = env.key
    if key is None and generate and not env.key.secret_name:
        path = key_file_path(data_dir, env.id)
        key = generated_key(path)
        source = dataclasses.replace(env.key, file=str(path))
    if key is None:
        return env
    return dataclasses.replace(env, key=source, consumer_address=address_of(key))


def resolve_environment_keys(
    settings: Settings, environ: Mapping[str, str], *, generate: bool
) -> Settings:
    """`settings` with every environment's `consumer_address` filled in (see above)."""
    environments = tuple(
        resolve_environment_key(env, environ, settings.data_dir, generate=generate)
        for env in settings.environments
    )
    return dataclasses.replace(settings, environments=environments)
