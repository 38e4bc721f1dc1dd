"""The node stage: a real single-node Kubernetes cluster on this machine, for real job pods.

Everything is built from source or Debian packages and runs as processes of the test session,
stopped by PID at the end:

- etcd and kube-apiserver (``control_plane.py``), listening on the node's address ``NODE_IP``,
  with certificates from a throw-away CA (``pki.py``) and one bearer token per component;
- containerd (Debian) with runc and the CNI plugins (bridge, host-local, loopback): pods live on
  the bridge ``BRIDGE`` in ``POD_CIDR``, with routes to the node and the Service range only (no
  default route, no NAT: pods reach nothing outside this machine);
- kubelet on the cgroupfs driver, kube-proxy in iptables mode (so ``kubernetes`` and the
  operator's Services work from pods), kube-scheduler and kube-controller-manager;
- the local-path provisioner (dynamic volumes for the workflows' volume claims) and Argo's
  workflow-controller, whose job pods run argoexec from a locally built image.

The images (``build-images.sh``) are imported into containerd at start; nothing is pulled. The
harness changes a few kernel settings the node needs (IP forwarding, bridge netfilter, the ones
the kubelet sets) and puts back what it found when it stops.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import time
import urllib.error
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.cluster import pki
from tests.cluster.control_plane import (
    CACHE_ROOT,
    K8S_VERSION,
    ControlPlane,
    ControlPlaneError,
    Exposure,
    binary_dir,
    request_json,
    running_control_plane,
    spawn,
    stop_process,
    write_kubeconfig,
)

ARGO_VERSION = os.environ.get("ARGO_VERSION", "v4.0.5")
NODE_NAME = "c2d-node"
BRIDGE = "c2d0"
NODE_IP = "10.244.0.1"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/24"  # the API server's default range here; `kubernetes` is .1
KUBERNETES_SERVICE_IP = "10.96.0.1"
ARGO_NAMESPACE = "argo"
REQUEUE = os.environ.get("OPERATOR_ARGO_REQUEUE", "2s")
RUNTIME_CLASS = "checked"
STORAGE_NAMESPACE = "local-path-storage"
STORAGE_CLASS = "local-path"
PAUSE_IMAGE = "localhost/pause:1"
ARGOEXEC_IMAGE = f"localhost/argoexec:{ARGO_VERSION}"
BUSYBOX_IMAGE = "localhost/busybox:1"
BASE_IMAGE = "localhost/operator-argo-base:bookworm"
ALGORITHM_IMAGE = "localhost/c2d-python:3.11"  # the base under a name jobs use
NODE_BINARIES = ("kubelet", "kube-proxy", "kube-scheduler", "kube-controller-manager")
ARGO_BINARIES = ("workflow-controller", "argoexec", "local-path-provisioner", "kube-router")
IMAGE_ARCHIVES = ("base", "operator-argo", "argoexec", "pause", "busybox")
SCRIPTS = Path(__file__).parent
# Kernel settings the node needs, and the ones the kubelet sets itself: restored at the end.
SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "vm.overcommit_memory": None,
    "kernel.panic": None,
    "kernel.panic_on_oops": None,
    "net.ipv4.conf.all.route_localnet": None,
}

# The cluster's components and the users their tokens stand for (bootstrap RBAC knows them).
COMPONENT_USERS: Mapping[str, tuple[str, ...]] = {
    f"system:node:{NODE_NAME}": ("system:nodes",),
    "system:kube-proxy": (),
    "system:kube-scheduler": (),
    "system:kube-controller-manager": (),
}


def kubectl_binary() -> str:
    """The kubectl of scripts/install-helm.sh, or one on PATH."""
    cached = CACHE_ROOT / "bin" / "kubectl"
    found = str(cached) if cached.is_file() else shutil.which("kubectl")
    if not found:
        raise ControlPlaneError("kubectl not found: run scripts/install-helm.sh")
    return found


def argo_bin_dir() -> Path:
    return CACHE_ROOT / "cluster" / f"argo-{ARGO_VERSION}" / "bin"


def image_dir() -> Path:
    return CACHE_ROOT / "cluster" / "images"


def missing_pieces() -> list[str]:
    """What the node stage needs and is not built (empty when everything is there)."""
    k8s = CACHE_ROOT / "cluster" / K8S_VERSION / "bin"
    missing = [str(k8s / name) for name in NODE_BINARIES if not (k8s / name).is_file()]
    missing += [
        str(argo_bin_dir() / n) for n in ARGO_BINARIES if not (argo_bin_dir() / n).is_file()
    ]
    missing += [
        str(image_dir() / f"{name}.tar")
        for name in IMAGE_ARCHIVES
        if not (image_dir() / f"{name}.tar").is_file()
    ]
    missing += [
        tool for tool in ("containerd", "ctr", "runc", "iptables", "ip") if not shutil.which(tool)
    ]
    missing += [
        p
        for p in ("/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback")
        if not Path(p).exists()
    ]
    return missing


def require_pieces() -> None:
    missing = missing_pieces()
    if missing:
        raise ControlPlaneError(
            "node stage pieces missing: " + ", ".join(missing) + "; run tests/cluster/build.sh, "
            "tests/cluster/build-argo.sh and tests/cluster/build-images.sh (scripts/test.sh does)"
        )


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def _wait(
    ready: Callable[[], bool],
    what: str,
    timeout: float = 120,
    procs: Mapping[str, subprocess.Popen[bytes]] | None = None,
    logs: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in (procs or {}).items():
            if proc.poll() is not None:
                tail = (logs / f"{name}.log").read_text(errors="replace")[-4000:] if logs else ""
                raise ControlPlaneError(
                    f"{name} exited with {proc.returncode} while waiting for {what}:\n{tail}"
                )
        try:
            if ready():
                return
        except (urllib.error.URLError, OSError, KeyError, ValueError):
            pass
        time.sleep(0.5)
    raise ControlPlaneError(f"{what}: not ready after {timeout:.0f}s")


# --- host network and kernel settings ------------------------------------------------------------


class HostSettings:
    """The kernel settings and network devices the node changes, put back by ``restore``."""

    def __init__(self) -> None:
        self.saved: dict[str, str] = {}

    def apply(self) -> None:
        for key, value in SYSCTLS.items():
            path = Path("/proc/sys") / key.replace(".", "/")
            if path.exists():
                self.saved[key] = path.read_text().strip()
                if value is not None:
                    path.write_text(value)
        if Path("/proc/sys/net/bridge").exists() is False:
            raise ControlPlaneError(
                "bridge netfilter (net.bridge.*) is not available on this kernel"
            )
        _run("ip", "link", "delete", BRIDGE, check=False)  # a crashed run's leftover
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
        _run("ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")

    def restore(self) -> None:
        _run("ip", "link", "delete", BRIDGE, check=False)
        for key, value in self.saved.items():
            with contextlib.suppress(OSError):
                (Path("/proc/sys") / key.replace(".", "/")).write_text(value)


# --- certificates and kubeconfigs ----------------------------------------------------------------


def _exposure(workdir: Path) -> Exposure:
    ca = pki.make_ca(workdir / "pki")
    serving = pki.issue(
        ca,
        "apiserver",
        common_name="kube-apiserver",
        ips=(NODE_IP, KUBERNETES_SERVICE_IP, "127.0.0.1"),
        dns=("kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local", "localhost"),
    )  # fmt: skip
    client = pki.issue(
        ca, "apiserver-kubelet-client", common_name="kube-apiserver-kubelet-client",
        organization="system:masters", client=True,
    )  # fmt: skip
    return Exposure(
        address=NODE_IP, ca=ca, serving=serving, kubelet_client=client, users=COMPONENT_USERS
    )


def _component_kubeconfig(plane: ControlPlane, user: str, name: str) -> Path:
    return write_kubeconfig(
        plane.workdir / f"{name}.kubeconfig",
        server=plane.server,
        ca_file=plane.ca_file,
        token=plane.user_tokens[user],
        user=user,
    )


# --- containerd ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Containerd:
    proc: subprocess.Popen[bytes]
    socket: Path

    def ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run("ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args)


def _cni_config(workdir: Path) -> Path:
    conf_dir = workdir / "cni"
    conf_dir.mkdir()
    config = {
        "cniVersion": "0.4.0",
        "name": "c2d-pods",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(workdir / "cni-ipam"),
                    "ranges": [
                        [{"subnet": POD_CIDR, "rangeStart": "10.244.0.10", "gateway": NODE_IP}]
                    ],
                    # The node and the Service range only: no default route out of the machine.
                    "routes": [{"dst": SERVICE_CIDR}],
                },
            }
        ],
    }
    (conf_dir / "10-c2d.conflist").write_text(json.dumps(config, indent=2))
    return conf_dir


def _start_containerd(workdir: Path) -> Containerd:
    base = workdir / "containerd"
    base.mkdir()
    socket = base / "containerd.sock"
    config = f"""
version = 2
root = "{base / "root"}"
state = "{base / "state"}"
[grpc]
  address = "{socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  enable_selinux = false
  # Without CAP_SYS_RESOURCE (as here) runc may not lower a process's oom_score_adj below its
  # own; keep the kubelet's adjustments within what containerd itself has.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
    # A second handler (runc again) behind the RuntimeClass RUNTIME_CLASS, so that tests see an
    # environment's runtimeClassName reach a pod and the pod run.
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{RUNTIME_CLASS}]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{RUNTIME_CLASS}.options]
        SystemdCgroup = false
        BinaryName = "{os.environ.get("OPERATOR_ARGO_RUNC", "runc")}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{_cni_config(workdir)}"
"""
    (base / "config.toml").write_text(config)
    proc = spawn(["containerd", "--config", str(base / "config.toml")], workdir / "containerd.log")
    runtime = Containerd(proc, socket)
    _wait(
        lambda: socket.exists() and runtime.ctr("version").returncode == 0,
        "containerd",
        60,
        {"containerd": proc},
        workdir,
    )
    return runtime


def import_images(runtime: Containerd) -> None:
    for name in IMAGE_ARCHIVES:
        runtime.ctr("images", "import", "--all-platforms", str(image_dir() / f"{name}.tar"))
    runtime.ctr("images", "tag", "--force", BASE_IMAGE, ALGORITHM_IMAGE)


# --- kubelet, kube-proxy, scheduler, controller manager ------------------------------------------


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kubelet(
    plane: ControlPlane, runtime: Containerd, bins: Path, workdir: Path, ca: pki.KeyPair
) -> subprocess.Popen[bytes]:
    serving = pki.issue(
        ca, "kubelet", common_name=NODE_NAME, ips=(NODE_IP, "127.0.0.1"), dns=(NODE_NAME,)
    )
    resolv = workdir / "pod-resolv.conf"
    resolv.write_text("")  # no cluster DNS: pods get no resolver at all
    endpoint = f"unix://{runtime.socket}"
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "cgroupfs",
        "failSwapOn": False,
        "failCgroupV1": False,
        "address": NODE_IP,
        "port": _free_port(),
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": _free_port(),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(ca.cert)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "tlsCertFile": str(serving.cert),
        "tlsPrivateKeyFile": str(serving.key),
        "containerRuntimeEndpoint": endpoint,
        "imageServiceEndpoint": endpoint,
        "resolvConf": str(resolv),
        "clusterDomain": "cluster.local",
        "podLogsDir": str(workdir / "pod-logs"),
        "serializeImagePulls": False,
        # Images cannot be pulled again here: never collect them, never evict for disk.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "protectKernelDefaults": False,
        "registerNode": True,
        "nodeStatusUpdateFrequency": "4s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "hairpinMode": "hairpin-veth",
        "maxPods": 110,
    }
    config_file = workdir / "kubelet.yaml"
    config_file.write_text(yaml.safe_dump(config))
    kubeconfig = _component_kubeconfig(plane, f"system:node:{NODE_NAME}", "kubelet")
    return spawn(
        [
            str(bins / "kubelet"),
            f"--config={config_file}",
            f"--kubeconfig={kubeconfig}",
            f"--root-dir={workdir / 'kubelet'}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={NODE_IP}",
            "--v=1",
        ],
        workdir / "kubelet.log",
    )


def _kube_proxy(plane: ControlPlane, bins: Path, workdir: Path) -> subprocess.Popen[bytes]:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {
            "kubeconfig": str(_component_kubeconfig(plane, "system:kube-proxy", "kube-proxy"))
        },
        "mode": "iptables",
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": NODE_NAME,
        # NodePorts on 127.0.0.1 only: the tests reach Services from this machine, nobody else.
        "nodePortAddresses": ["127.0.0.1/32"],
        "healthzBindAddress": f"127.0.0.1:{_free_port()}",
        "metricsBindAddress": f"127.0.0.1:{_free_port()}",
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }
    config_file = workdir / "kube-proxy.yaml"
    config_file.write_text(yaml.safe_dump(config))
    return spawn(
        [str(bins / "kube-proxy"), f"--config={config_file}", "--v=1"], workdir / "kube-proxy.log"
    )


KUBELET_CHAINS = ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY")


def cleanup_host_rules() -> None:
    """Remove the iptables chains (and ipsets) the kube-proxy, kube-router and kubelet of this or
    an earlier run left."""
    _run(str(binary_dir() / "kube-proxy"), "--cleanup", check=False)
    _cleanup_router_rules()
    for table in ("filter", "nat", "mangle"):
        for hook in ("INPUT", "OUTPUT"):
            while (
                _run(
                    "iptables", "-t", table, "-D", hook, "-j", "KUBE-FIREWALL", check=False
                ).returncode
                == 0
            ):
                pass
        for chain in KUBELET_CHAINS:
            _run("iptables", "-t", table, "-F", chain, check=False)
            _run("iptables", "-t", table, "-X", chain, check=False)


ROUTER_CHAINS = ("KUBE-ROUTER-", "KUBE-NWPLCY-", "KUBE-POD-FW-")
ROUTER_SETS = ("KUBE-SRC-", "KUBE-DST-")


def _cleanup_router_rules() -> None:
    """kube-router's chains, their hooks and its ipsets (its own --cleanup-config leaves the
    chains and then crashes on IPVS, which this kernel lacks)."""
    rules = _run("iptables", "-t", "filter", "-S", check=False).stdout.splitlines()
    for rule in rules:
        parts = shlex.split(rule)
        if parts[:2] in (["-A", "INPUT"], ["-A", "FORWARD"], ["-A", "OUTPUT"]) and any(
            part.startswith(ROUTER_CHAINS) for part in parts
        ):
            _run("iptables", "-t", "filter", "-D", *parts[1:], check=False)
    chains = [
        r.split()[1]
        for r in rules
        if r.startswith("-N ") and r.split()[1].startswith(ROUTER_CHAINS)
    ]
    for action in ("-F", "-X"):  # empty every chain first: they jump to each other
        for chain in chains:
            _run("iptables", "-t", "filter", action, chain, check=False)
    if shutil.which("ipset"):
        for name in _run("ipset", "list", "-n", check=False).stdout.split():
            if name.startswith(ROUTER_SETS):
                _run("ipset", "destroy", name, check=False)


def cleanup_cgroups() -> None:
    """Remove the (empty, by now) cgroups the kubelet made for pods, deepest first."""
    for root in Path("/sys/fs/cgroup").iterdir():
        pods = root / "kubepods"
        if not pods.is_dir():
            continue
        for directory in sorted(pods.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if directory.is_dir():
                with contextlib.suppress(OSError):
                    directory.rmdir()
        with contextlib.suppress(OSError):
            pods.rmdir()


def _scheduler(plane: ControlPlane, bins: Path, workdir: Path) -> subprocess.Popen[bytes]:
    kubeconfig = _component_kubeconfig(plane, "system:kube-scheduler", "kube-scheduler")
    return spawn(
        [
            str(bins / "kube-scheduler"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={_free_port()}",
            "--v=1",
        ],
        workdir / "kube-scheduler.log",
    )


def _controller_manager(plane: ControlPlane, bins: Path, workdir: Path) -> subprocess.Popen[bytes]:
    kubeconfig = _component_kubeconfig(
        plane, "system:kube-controller-manager", "kube-controller-manager"
    )
    return spawn(
        [
            str(bins / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--service-account-private-key-file={plane.service_account_key}",
            f"--root-ca-file={plane.ca_file}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={_free_port()}",
            f"--cluster-cidr={POD_CIDR}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--v=1",
        ],
        workdir / "kube-controller-manager.log",
    )


def _node_ready(plane: ControlPlane) -> bool:
    node = request_json(plane, "GET", f"/api/v1/nodes/{NODE_NAME}")
    conditions = node["status"].get("conditions") or []  # type: ignore[index]
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _has_service_account(plane: ControlPlane, namespace: str, name: str = "default") -> bool:
    request_json(plane, "GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}")
    return True


# --- storage and Argo ----------------------------------------------------------------------------


PLURALS = {
    "StorageClass": "storageclasses",
    "ConfigMap": "configmaps",
    "Namespace": "namespaces",
    "ServiceAccount": "serviceaccounts",
    "RuntimeClass": "runtimeclasses",
}


def apply(plane: ControlPlane, obj: Mapping[str, Any]) -> None:
    """Create ``obj`` (cluster-scoped or namespaced, by its own metadata); 409 is fine."""
    api = obj["apiVersion"]
    kind = obj["kind"]
    plural = PLURALS[kind]
    prefix = "/api/v1" if api == "v1" else f"/apis/{api}"
    namespace = obj["metadata"].get("namespace")
    path = f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"
    try:
        request_json(plane, "POST", path, dict(obj))
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise


HELPER_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "helper-pod"},
    "spec": {
        "containers": [{"name": "helper-pod", "image": BUSYBOX_IMAGE, "imagePullPolicy": "Never"}],
    },
}


def _local_path(plane: ControlPlane, workdir: Path) -> subprocess.Popen[bytes]:
    volumes = workdir / "local-path"
    volumes.mkdir()
    for obj in (
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": STORAGE_NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "local-path-provisioner", "namespace": STORAGE_NAMESPACE},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "local-path-config", "namespace": STORAGE_NAMESPACE},
            "data": {
                "config.json": json.dumps(
                    {
                        "nodePathMap": [
                            {"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [str(volumes)]}
                        ]
                    }
                ),
                # As the provisioner's own default: a world-writable directory per volume.
                "setup": '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n',
                "teardown": '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n',
                "helperPod.yaml": yaml.safe_dump(HELPER_POD),
            },
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "rancher.io/local-path",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Delete",
        },
    ):
        apply(plane, obj)
    return spawn(
        [
            str(argo_bin_dir() / "local-path-provisioner"),
            "--debug",
            "start",
            f"--kubeconfig={plane.kubeconfig}",
            f"--namespace={STORAGE_NAMESPACE}",
            f"--helper-image={BUSYBOX_IMAGE}",
            "--service-account-name=local-path-provisioner",
        ],
        workdir / "local-path-provisioner.log",
    )


def _workflow_controller(plane: ControlPlane, workdir: Path) -> subprocess.Popen[bytes]:
    apply(plane, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ARGO_NAMESPACE}})
    apply(
        plane,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "workflow-controller-configmap", "namespace": ARGO_NAMESPACE},
            "data": {},
        },
    )
    return spawn(
        [
            str(argo_bin_dir() / "workflow-controller"),
            f"--kubeconfig={plane.kubeconfig}",
            f"--namespace={ARGO_NAMESPACE}",
            "--configmap=workflow-controller-configmap",
            f"--executor-image={ARGOEXEC_IMAGE}",
            "--executor-image-pull-policy=IfNotPresent",
            "--loglevel=info",
        ],
        workdir / "workflow-controller.log",
        # Argo moves a workflow on when it requeues it, 10 s by default: 2 s here (tunable with
        # OPERATOR_ARGO_REQUEUE) keeps each job of the tests near 10 s instead of 30.
        env={**os.environ, "LEADER_ELECTION_DISABLE": "true", "DEFAULT_REQUEUE_TIME": REQUEUE},
    )


def _kube_router(plane: ControlPlane, workdir: Path) -> subprocess.Popen[bytes]:
    """kube-router as the node's NetworkPolicy enforcer only (iptables and ipsets): routes,
    the pod network and Services stay with the bridge CNI and kube-proxy."""
    return spawn(
        [
            str(argo_bin_dir() / "kube-router"),
            f"--kubeconfig={plane.kubeconfig}",
            f"--hostname-override={NODE_NAME}",
            "--run-firewall=true",
            "--run-router=false",
            "--run-service-proxy=false",
            "--enable-cni=false",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--health-port=0",
            "--metrics-port=0",
            "--v=1",
        ],
        workdir / "kube-router.log",
    )


# --- the whole node ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Node:
    """A running single-node cluster: the control plane, the node's runtime and where it logs."""

    plane: ControlPlane
    runtime: Containerd
    workdir: Path
    processes: Mapping[str, subprocess.Popen[bytes]]

    def log(self, component: str) -> str:
        return (self.workdir / f"{component}.log").read_text(errors="replace")

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise ControlPlaneError(
                    f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}"
                )


@contextlib.contextmanager
def running_node(workdir: Path) -> Iterator[Node]:
    """Start the whole single-node cluster in ``workdir``; stop every process and undo the
    host changes at the end, also when start-up fails half way."""
    require_pieces()
    bins = binary_dir()
    host = HostSettings()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    with contextlib.ExitStack() as stack:
        stack.callback(host.restore)
        stack.callback(cleanup_cgroups)
        stack.callback(cleanup_host_rules)
        cleanup_host_rules()
        host.apply()
        exposure = _exposure(workdir)
        plane = stack.enter_context(running_control_plane(workdir, exposure=exposure))
        runtime = _start_containerd(workdir)
        processes["containerd"] = runtime.proc
        stack.callback(_stop_containerd, runtime, workdir)
        import_images(runtime)
        processes["kubelet"] = _kubelet(plane, runtime, bins, workdir, exposure.ca)
        processes["kube-proxy"] = _kube_proxy(plane, bins, workdir)
        processes["kube-scheduler"] = _scheduler(plane, bins, workdir)
        processes["kube-controller-manager"] = _controller_manager(plane, bins, workdir)
        for name in ("kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet"):
            stack.callback(stop_process, processes[name])
        _wait(lambda: _node_ready(plane), "node Ready", 120, processes, workdir)
        _wait(
            lambda: _has_service_account(plane, "default"),
            "default service account",
            60,
            processes,
            workdir,
        )
        runtime_class = {"metadata": {"name": RUNTIME_CLASS}, "handler": RUNTIME_CLASS}
        apply(plane, {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", **runtime_class})
        processes["local-path-provisioner"] = _local_path(plane, workdir)
        stack.callback(stop_process, processes["local-path-provisioner"])
        processes["kube-router"] = _kube_router(plane, workdir)
        stack.callback(stop_process, processes["kube-router"])
        processes["workflow-controller"] = _workflow_controller(plane, workdir)
        stack.callback(stop_process, processes["workflow-controller"])
        yield Node(plane=plane, runtime=runtime, workdir=workdir, processes=processes)


def _stop_containerd(runtime: Containerd, workdir: Path) -> None:
    """Stop every pod sandbox (their shims outlive containerd otherwise), then containerd."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        tasks = runtime.ctr("tasks", "list", "--quiet").stdout.split()
        for task in tasks:
            runtime.ctr("tasks", "kill", "--signal", "SIGKILL", task)
        time.sleep(1)
        for task in tasks:
            runtime.ctr("tasks", "delete", "--force", task)
        for container in runtime.ctr("containers", "list", "--quiet").stdout.split():
            runtime.ctr("containers", "delete", container)
    stop_process(runtime.proc)
    # Mounts the kubelet and containerd made below the work directory (volumes, rootfs).
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    targets = [line.split()[1] for line in mounts if line.split()[1].startswith(str(workdir))]
    for target in sorted(targets, key=len, reverse=True):
        _run("umount", "-l", target, check=False)
