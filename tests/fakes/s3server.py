"""A real S3 API on 127.0.0.1 for tests: moto's server mode, run from its own virtualenv.

moto pulls in botocore, which pins python-dateutil below the version kubernetes needs, so the
server never shares the project's environment: it lives in a venv under the user's cache
directory (created once, reused afterwards) and runs as a separate process, stopped by PID.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

VENV_DIR = Path(
    os.environ.get("OPERATOR_ARGO_MOTO_VENV", "~/.cache/operator-argo/moto-venv")
).expanduser()
MOTO_REQUIREMENT = "moto[server]>=5"


@dataclasses.dataclass(frozen=True, kw_only=True)
class S3Server:
    """A running moto server: where it listens and the credentials it accepts (any)."""

    endpoint: str  # host:port
    pid: int
    access_key: str = "testing"
    secret_key: str = "testing"
    region: str = "us-east-1"


def _server_binary() -> Path:
    return VENV_DIR / "bin" / "moto_server"


def ensure_venv() -> Path:
    """Create the venv with moto's server mode unless it is already there; return the binary."""
    binary = _server_binary()
    if binary.exists():
        return binary
    VENV_DIR.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV_DIR)], check=True)
    pip = VENV_DIR / "bin" / "pip"
    subprocess.run(
        [str(pip), "install", "--quiet", "--disable-pip-version-check", MOTO_REQUIREMENT],
        check=True,
    )
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(endpoint: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://{endpoint}/moto-api/", timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers: good enough
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer on {endpoint} within {timeout}s")


@contextlib.contextmanager
def running_s3_server(timeout: float = 30.0) -> Iterator[S3Server]:
    """Start moto_server on a free port of 127.0.0.1; stop it (by its PID) afterwards."""
    binary = ensure_venv()
    port = _free_port()
    endpoint = f"127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(binary), "-p", str(port), "-H", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_ready(endpoint, proc, timeout)
        yield S3Server(endpoint=endpoint, pid=proc.pid)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


if __name__ == "__main__":
    print(ensure_venv())
