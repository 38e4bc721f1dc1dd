"""From a workflow template to a local process: env and secrets resolved, /data paths mapped."""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Mapping
from pathlib import Path

import structlog

import operator_argo
from operator_argo.config import Settings
from operator_argo.domain.environment import Environment
from operator_argo.engines.local.layout import JobLayout
from operator_argo.engines.local.process import ProcessSpec
from operator_argo.engines.local.sandbox import (
    TOOLS_DIR,
    Limits,
    bwrap_argv,
    data_binds,
    folder_binds,
)
from operator_argo.engines.local.workflow import SecretRef, StepTemplate

log = structlog.get_logger(__name__)

ALGORITHM = "algorithm"
JOB_CODE = frozenset({ALGORITHM, "filter"})  # steps whose code the operator did not write
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
_PACKAGE_ROOT = str(Path(operator_argo.__file__).resolve().parent.parent)
# A mount path as a word of its own: at the start, or after a space, quote, `=` or redirection.
_MOUNT_RE = re.compile(r"(?:^|(?<=[\s'\"=<>;(|&]))(/data|/admin)(?=/|$|[\s'\";)|&])")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Launcher:
    """Turns the templates of one job's workflow into process specs."""

    settings: Settings
    environment: Environment
    layout: JobLayout
    secrets: Mapping[str, str]  # env var name -> value, for valueFrom.secretKeyRef
    bwrap: str | None  # the sandbox for the algorithm; None = plain processes
    tools_dir: Path  # holds `python`/`python3` -> this interpreter

    def _host_path(self, text: str, *, in_text: bool) -> str:
        """`text` with the mount paths mapped to the job's directories: a leading one only,
        or (`in_text`, for command lines) every one that stands as a word of its own."""
        roots = {"/data": str(self.layout.data), "/admin": str(self.layout.admin)}
        if in_text:
            return _MOUNT_RE.sub(lambda match: roots[match.group(1)], text)
        for mount, root in roots.items():
            if text == mount or text.startswith(f"{mount}/"):
                return root + text[len(mount) :]
        return text

    def _resolve_env(self, template: StepTemplate, *, on_host: bool) -> dict[str, str]:
        env: dict[str, str] = {}
        for name, value in template.env.items():
            if isinstance(value, SecretRef):
                secret = self.secrets.get(name)
                if secret is None:
                    log.warning("secret_ref_unresolved", step=template.name, env=name)
                    continue
                env[name] = secret
            else:
                # The algorithm's env holds its command line; the steps' env holds the job spec
                # (user text that must reach configure unchanged), so only leading paths there.
                in_text = template.name == ALGORITHM
                env[name] = self._host_path(value, in_text=in_text) if on_host else value
        return env

    def _argv(self, template: StepTemplate, *, on_host: bool) -> list[str]:
        argv = list(template.argv)
        if argv[:2] == ["operator-argo", "step"] and len(argv) > 2:
            argv = [sys.executable, "-m", f"operator_argo.steps.{argv[2]}", *argv[3:]]
        elif on_host and argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        return [self._host_path(part, in_text=True) for part in argv] if on_host else argv

    def _step_env(self, template: StepTemplate) -> dict[str, str]:
        env = {"PATH": f"{self.tools_dir}:{SYSTEM_PATH}", "HOME": str(self.layout.root)}
        env["LANG"] = "C.UTF-8"
        env["PYTHONPATH"] = _PACKAGE_ROOT  # the steps are this package's modules
        env |= self._resolve_env(template, on_host=True)
        env["VOLUME"] = str(self.layout.data)
        env["OPERATOR_ADMIN_DIR"] = str(self.layout.admin)
        env["OPERATOR_RESULT_FILE"] = str(self.layout.result_file(template.name))
        if template.name == "publish":
            env |= storage_env(self.settings)
        return env

    def _job_code_env(self, template: StepTemplate, *, on_host: bool) -> dict[str, str]:
        env = {
            "PATH": f"{self.tools_dir if on_host else TOOLS_DIR}:{SYSTEM_PATH}",
            "HOME": "/tmp",  # noqa: S108 - a private tmpfs in the sandbox
            "LANG": "C.UTF-8",
        }
        if template.name == ALGORITHM:
            data = str(self.layout.data) if on_host else "/data"
            env |= {"VOLUME": data, "LOGS": f"{data}/logs", "INPUTS": f"{data}/inputs"}
            env["OUTPUTS"] = f"{data}/outputs"
        return env

    def _sandbox_binds(self, template: StepTemplate) -> list[str]:
        """The job folders `template` mounts, as bubblewrap binds: the algorithm gets /data
        (data_binds), other job code (a filtering step) exactly its template's mounts."""
        if template.name == ALGORITHM:
            return data_binds(self.layout.data)
        return folder_binds(
            {target: self.layout.root / sub for target, sub in template.sub_paths.items()}
        )

    def spec_for(self, template: StepTemplate, deadline: float | None) -> ProcessSpec:
        """How to run `template` here, stopped after `deadline` seconds."""
        job_code = template.name in JOB_CODE
        workdir = template.workdir or "/data"
        base = ProcessSpec(
            argv=(),
            env={},
            cwd=Path(self._host_path(workdir, in_text=False)) if job_code else self.layout.root,
            log_file=self.layout.step_log(template.name),
            pid_file=self.layout.pid_file(template.name),
            deadline=deadline,
        )
        if not job_code:
            argv = self._argv(template, on_host=True)
            return dataclasses.replace(base, argv=tuple(argv), env=self._step_env(template))
        on_host = self.bwrap is None
        env = self._job_code_env(template, on_host=on_host)
        env |= self._resolve_env(template, on_host=on_host)
        argv = self._argv(template, on_host=on_host)
        if self.bwrap is not None:
            argv = bwrap_argv(
                self.bwrap,
                argv,
                binds=self._sandbox_binds(template),
                workdir=workdir,
                tools_dir=self.tools_dir,
                env=env,
                allow_network=self.environment.allow_network and template.name == ALGORITHM,
            )
            env = {}
        limits = Limits.for_environment(self.environment)
        return dataclasses.replace(base, argv=tuple(argv), env=env, limits=limits)


def storage_env(settings: Settings) -> dict[str, str]:
    """The result-storage settings of this operator, as the publish step reads them."""
    s3, ipfs = settings.s3, settings.ipfs
    values = {
        "OPERATOR_STORAGE": settings.storage_backend,
        "OPERATOR_RESULTS_DIR": str(settings.results_dir.resolve()),
        "OPERATOR_MAX_OUTPUT_BYTES": str(settings.max_output_bytes),
        "OPERATOR_S3_ENDPOINT": s3.endpoint,
        "OPERATOR_S3_BUCKET": s3.bucket,
        "OPERATOR_S3_PREFIX": s3.prefix,
        "OPERATOR_S3_REGION": s3.region,
        "OPERATOR_S3_SECURE": "1" if s3.secure else "0",
        "OPERATOR_S3_ACCESS_KEY": s3.access_key,
        "OPERATOR_S3_SECRET_KEY": s3.secret_key,
        "IPFS_URL": ipfs.url,
        "X_API_KEY": ipfs.api_key,
        "CLIENT_ID": ipfs.client_id,
    }
    return {name: value for name, value in values.items() if value}


def secret_values(settings: Settings, env_key: str | None) -> dict[str, str]:
    """Values for the env vars the builder takes from Secrets, by env var name."""
    storage = storage_env(settings)
    secrets: dict[str, str] = {
        name: storage[name]
        for name in ("OPERATOR_S3_ACCESS_KEY", "OPERATOR_S3_SECRET_KEY", "X_API_KEY", "CLIENT_ID")
        if name in storage
    }
    for alias, name in (
        ("AWS_ACCESS_KEY_ID", "OPERATOR_S3_ACCESS_KEY"),
        ("AWS_SECRET_ACCESS_KEY", "OPERATOR_S3_SECRET_KEY"),
        ("X-API-KEY", "X_API_KEY"),
        ("CLIENT-ID", "CLIENT_ID"),
    ):
        if name in secrets:
            secrets[alias] = secrets[name]
    if env_key:
        secrets["OPERATOR_ENV_KEY"] = env_key
    return secrets
