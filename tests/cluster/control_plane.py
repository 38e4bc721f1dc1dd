"""A real Kubernetes control plane (etcd + kube-apiserver) for integration tests.

The binaries come from ``tests/cluster/build.sh`` (cached per Kubernetes version). Everything a
run writes (etcd data, certificates, keys, logs, kubeconfig) lives in one temporary directory;
the processes are stopped by PID. By default the API server listens on 127.0.0.1 with a
self-signed certificate and nothing runs pods; the node stage (``node.py``) passes an
``Exposure`` instead: an address pods reach, certificates from its own CA, and one token per
cluster component.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml

from tests.cluster.pki import KeyPair

K8S_VERSION = os.environ.get("K8S_VERSION", "v1.34.4")
CACHE_ROOT = Path(os.environ.get("OPERATOR_ARGO_CACHE", "~/.cache/operator-argo")).expanduser()
BUILD_SCRIPT = Path(__file__).with_name("build.sh")
ADMIN_TOKEN_USER = "operator-argo-test-admin"


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, started or reached."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Exposure:
    """An API server that pods reach: its address, certificates, and the components' users."""

    address: str  # bound and advertised: the endpoint of the `kubernetes` Service
    ca: KeyPair
    serving: KeyPair
    kubelet_client: KeyPair  # the API server's identity towards kubelets (logs, port-forward)
    users: Mapping[str, tuple[str, ...]]  # user name -> groups; each gets a bearer token


@dataclasses.dataclass(frozen=True, kw_only=True)
class ControlPlane:
    """A running API server: where it listens and how an admin reaches it."""

    server: str
    kubeconfig: Path
    ca_file: Path
    token: str
    workdir: Path
    user_tokens: Mapping[str, str] = dataclasses.field(default_factory=dict)
    service_account_key: Path | None = None

    def __iter__(self) -> Iterator[str]:
        """Unpack as ``(kubeconfig_path, server_url)``."""
        return iter((str(self.kubeconfig), self.server))


def binary_dir() -> Path:
    """Return the directory with kube-apiserver, etcd and the Argo CRDs; fail if not built."""
    override = os.environ.get("OPERATOR_ARGO_CLUSTER_BIN")
    bin_dir = Path(override) if override else CACHE_ROOT / "cluster" / K8S_VERSION / "bin"
    missing = [n for n in ("kube-apiserver", "etcd") if not (bin_dir / n).is_file()]
    if missing or not crd_dir(bin_dir).is_dir():
        raise ControlPlaneError(
            f"control-plane binaries missing in {bin_dir} ({', '.join(missing) or 'crds'}): "
            f"run {BUILD_SCRIPT} first (cold build about 15-25 minutes, cached afterwards)"
        )
    return bin_dir


def crd_dir(bin_dir: Path) -> Path:
    """Argo's CRD manifests copied next to the binaries by build.sh."""
    flavour = os.environ.get("OPERATOR_ARGO_CRDS", "minimal")
    return bin_dir.parent / "crds" / flavour


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(
    argv: list[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a server process with its output in ``log``, in its own session (stopped by PID)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _start_etcd(bin_dir: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    client, peer = f"http://127.0.0.1:{_free_port()}", f"http://127.0.0.1:{_free_port()}"
    argv = [
        str(bin_dir / "etcd"),
        "--name=default",
        f"--data-dir={workdir / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--unsafe-no-fsync",  # throw-away data: durability only costs time here
        "--max-request-bytes=4194304",  # room for Argo's full CRDs (about 3 MB)
        "--log-level=warn",
    ]
    proc = spawn(argv, workdir / "etcd.log")
    _wait_until(lambda: _http_ok(f"{client}/health"), proc, workdir / "etcd.log", "etcd")
    return proc, client


def _write_credentials(
    workdir: Path, users: Mapping[str, tuple[str, ...]]
) -> tuple[Path, Path, str, dict[str, str]]:
    sa_key = workdir / "sa.key"
    subprocess.run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            str(sa_key),
        ],
        check=True,
        capture_output=True,
    )
    token = os.urandom(24).hex()
    user_tokens = {user: os.urandom(24).hex() for user in users}
    lines = [f'{token},{ADMIN_TOKEN_USER},{ADMIN_TOKEN_USER},"system:masters"']
    lines += [
        f'{user_tokens[user]},{user},{user},"{",".join(groups)}"' for user, groups in users.items()
    ]
    tokens = workdir / "tokens.csv"
    tokens.write_text("\n".join(lines) + "\n")
    return sa_key, tokens, token, user_tokens


@dataclasses.dataclass(frozen=True)
class _ApiServer:
    proc: subprocess.Popen[bytes]
    server: str
    token: str
    user_tokens: dict[str, str]
    sa_key: Path


def _tls_arguments(workdir: Path, exposure: Exposure | None) -> list[str]:
    if exposure is None:
        return [f"--cert-dir={workdir / 'certs'}"]  # self-signed serving cert + its CA, generated
    return [
        f"--tls-cert-file={exposure.serving.cert}",
        f"--tls-private-key-file={exposure.serving.key}",
        f"--client-ca-file={exposure.ca.cert}",
        f"--kubelet-client-certificate={exposure.kubelet_client.cert}",
        f"--kubelet-client-key={exposure.kubelet_client.key}",
        f"--kubelet-certificate-authority={exposure.ca.cert}",
        "--kubelet-preferred-address-types=InternalIP",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=false",
    ]


def _start_apiserver(
    bin_dir: Path, workdir: Path, etcd_url: str, exposure: Exposure | None
) -> _ApiServer:
    address = exposure.address if exposure else "127.0.0.1"
    sa_key, tokens, token, user_tokens = _write_credentials(
        workdir, exposure.users if exposure else {}
    )
    port = _free_port()
    argv = [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers={etcd_url}",
        f"--bind-address={address}",
        f"--advertise-address={address}",
        f"--secure-port={port}",
        *_tls_arguments(workdir, exposure),
        f"--token-auth-file={tokens}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={sa_key}",
        f"--service-account-signing-key-file={sa_key}",
        "--service-cluster-ip-range=10.96.0.0/24",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
        "--v=0",
    ]
    if exposure is None:
        argv.append("--authorization-mode=RBAC")
    proc = spawn(argv, workdir / "kube-apiserver.log")
    return _ApiServer(proc, f"https://{address}:{port}", token, user_tokens, sa_key)


def _http_ok(url: str, *, token: str = "", ca_file: Path | None = None) -> bool:
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError):
        return False


def _wait_until(ready: object, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise ControlPlaneError(f"{what} exited with {proc.returncode}:\n{tail}")
        if ready():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise ControlPlaneError(f"{what} not ready after 90s; log: {log}")


def write_kubeconfig(path: Path, *, server: str, ca_file: Path, token: str, user: str) -> Path:
    """Write a one-context kubeconfig for ``server`` authenticated by a bearer token."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "test", "cluster": {"server": server, "certificate-authority": str(ca_file)}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": user}}],
        "current-context": "test",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def request_json(plane: ControlPlane, method: str, path: str, body: object = None) -> object:
    """One admin request to the API server (setup only; tests use the real Python client)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        plane.server + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {plane.token}", "Content-Type": "application/json"},
    )
    context = ssl.create_default_context(cafile=str(plane.ca_file))
    with urllib.request.urlopen(request, timeout=30, context=context) as response:
        return json.loads(response.read())


def install_crds(plane: ControlPlane, directory: Path) -> list[str]:
    """Create every CRD in ``directory`` and wait until each is Established; return their names."""
    names = []
    for manifest in sorted(directory.glob("argoproj.io_*.yaml")):
        crd = yaml.safe_load(manifest.read_text())
        request_json(plane, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        names.append(crd["metadata"]["name"])
    for name in names:
        _wait_established(plane, name)
    return names


def _wait_established(plane: ControlPlane, name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        crd = request_json(
            plane, "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        )
        conditions = crd["status"].get("conditions") or []  # type: ignore[index]
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            return
        time.sleep(0.1)
    raise ControlPlaneError(f"CRD {name} not Established after 30s")


@contextlib.contextmanager
def running_control_plane(
    workdir: Path, *, exposure: Exposure | None = None
) -> Iterator[ControlPlane]:
    """Start etcd and kube-apiserver in ``workdir``, install Argo's CRDs, stop both at the end."""
    bin_dir = binary_dir()
    etcd, etcd_url = _start_etcd(bin_dir, workdir)
    apiserver = None
    try:
        apiserver = _start_apiserver(bin_dir, workdir, etcd_url, exposure)
        ca_file = exposure.ca.cert if exposure else workdir / "certs" / "apiserver.crt"
        token, server = apiserver.token, apiserver.server
        _wait_until(
            lambda: ca_file.exists() and _http_ok(f"{server}/readyz", token=token, ca_file=ca_file),
            apiserver.proc,
            workdir / "kube-apiserver.log",
            "kube-apiserver",
        )
        kubeconfig = write_kubeconfig(
            workdir / "admin.kubeconfig",
            server=server,
            ca_file=ca_file,
            token=token,
            user=ADMIN_TOKEN_USER,
        )
        plane = ControlPlane(
            server=server,
            kubeconfig=kubeconfig,
            ca_file=ca_file,
            token=token,
            workdir=workdir,
            user_tokens=apiserver.user_tokens,
            service_account_key=apiserver.sa_key,
        )
        install_crds(plane, crd_dir(bin_dir))
        yield plane
    finally:
        if apiserver is not None:
            stop_process(apiserver.proc)
        stop_process(etcd)
