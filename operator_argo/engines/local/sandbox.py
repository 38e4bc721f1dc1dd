"""The algorithm's sandbox: a bubblewrap command line, resource limits and death with the parent.

Under bubblewrap the algorithm sees the job's data directory at /data (inputs, DDOs and the
algorithm read-only; outputs and logs writable); a filtering step sees only the folders its
template mounts (the outputs and its own admin folder). Both see the host system read-only, a
private /tmp, a
minimal /proc and /dev, its own PID, network, IPC and user namespaces (no network unless the
environment allows it), no capabilities, and runs as `nobody`. Its CPU time, address space and
file size are bounded with rlimits from the environment.
"""

from __future__ import annotations

import ctypes
import dataclasses
import resource
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from operator_argo.domain.environment import Environment

# Read-only system trees; on merged-/usr hosts /bin, /lib, /lib64, /sbin are symlinks.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")
MASKED_FILES = ("/etc/shadow", "/etc/gshadow")
READ_ONLY_DATA = ("inputs", "ddos", "transformations")
TOOLS_DIR = "/opt/operator-argo/bin"  # where `python` and `python3` resolve in the sandbox
NOBODY = 65534
_PR_SET_PDEATHSIG = 1
_GIB = 1024**3


@dataclasses.dataclass(frozen=True, kw_only=True)
class Limits:
    """rlimits of one process tree (None = unlimited)."""

    address_space: int | None = None  # bytes (RLIMIT_AS)
    cpu_seconds: int | None = None  # RLIMIT_CPU
    file_size: int | None = None  # bytes (RLIMIT_FSIZE)

    @classmethod
    def for_environment(cls, environment: Environment) -> Limits:
        return cls(
            address_space=environment.ram_gb * _GIB if environment.ram_gb > 0 else None,
            cpu_seconds=max(1, environment.max_job_duration) * max(1, environment.cpu_number),
            file_size=environment.disk_gb * _GIB if environment.disk_gb > 0 else None,
        )


def interpreter_tools(target: Path) -> Path:
    """A folder with `python` and `python3` pointing at this interpreter (entrypoints need them)."""
    target.mkdir(parents=True, exist_ok=True)
    real = Path(sys.executable).resolve()
    for name in ("python", "python3"):
        link = target / name
        if not (link.is_symlink() and link.resolve() == real):
            link.unlink(missing_ok=True)
            link.symlink_to(real)
    return target


def _interpreter_roots() -> list[Path]:
    """Trees the interpreter needs that the system binds do not cover (e.g. a pyenv prefix)."""
    roots: list[Path] = []
    for candidate in (sys.base_prefix, sys.prefix, str(Path(sys.executable).resolve().parent)):
        path = Path(candidate).resolve()
        covered = any(path == Path(d) or Path(d) in path.parents for d in SYSTEM_DIRS)
        if not covered and not any(r == path or r in path.parents for r in roots):
            roots.append(path)
    return roots


def _system_binds() -> list[str]:
    args: list[str] = []
    for folder in SYSTEM_DIRS:
        path = Path(folder)
        if path.is_symlink():
            args += ["--symlink", str(path.readlink()), folder]
        elif path.is_dir():
            args += ["--ro-bind", folder, folder]
    for root in _interpreter_roots():
        args += ["--ro-bind", str(root), str(root)]
    for masked in MASKED_FILES:
        args += ["--ro-bind-try", "/dev/null", masked]
    return args


def data_binds(data_dir: Path) -> list[str]:
    """The algorithm's view: the job's data directory at /data, what configure fetched read-only."""
    args = ["--bind", str(data_dir), "/data"]
    for folder in READ_ONLY_DATA:
        if (data_dir / folder).is_dir():
            args += ["--ro-bind", str(data_dir / folder), f"/data/{folder}"]
    return args


def folder_binds(folders: Mapping[str, Path]) -> list[str]:
    """Exactly `folders` (path in the sandbox -> folder here), writable, parents first."""
    args: list[str] = []
    for target, source in sorted(folders.items()):
        args += ["--bind", str(source), target]
    return args


def bwrap_argv(
    bwrap: str,
    argv: Sequence[str],
    *,
    binds: Sequence[str],
    workdir: str,
    tools_dir: Path,
    env: Mapping[str, str],
    allow_network: bool,
) -> list[str]:
    """`argv` wrapped in bubblewrap, with the job's folders `binds` (`data_binds`,
    `folder_binds`), started in `workdir`, with exactly `env` as its environment."""
    args = [bwrap, "--unshare-all", "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    if allow_network:
        args.append("--share-net")
    args += ["--new-session", "--die-with-parent", "--cap-drop", "ALL"]
    args += _system_binds()
    args += ["--ro-bind", str(tools_dir), TOOLS_DIR]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # noqa: S108 - private tmpfs
    args += binds
    args += ["--chdir", workdir, "--clearenv"]
    for name, value in sorted(env.items()):
        args += ["--setenv", name, value]
    return [*args, "--", *argv]


def _load_prctl() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    prctl: Callable[..., int] | None = getattr(libc, "prctl", None)
    return prctl


_PRCTL = _load_prctl()  # loaded here: a forked child must not import or allocate much


def child_setup(limits: Limits | None) -> Callable[[], None]:
    """A preexec_fn: die with the operator (PDEATHSIG) and apply `limits` in the child."""

    def setup() -> None:
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if limits is None:
            return
        for kind, value in (
            (resource.RLIMIT_AS, limits.address_space),
            (resource.RLIMIT_CPU, limits.cpu_seconds),
            (resource.RLIMIT_FSIZE, limits.file_size),
        ):
            if value is not None:
                # Soft limit first (SIGXCPU/EFBIG), hard a little later for CPU.
                hard = value + 5 if kind == resource.RLIMIT_CPU else value
                resource.setrlimit(kind, (value, hard))

    return setup
