"""Run the test control plane in the foreground for manual use: ``python -m tests.cluster.start``.

Prints the admin kubeconfig path and keeps etcd + kube-apiserver up until Ctrl-C (or SIGTERM).
With ``--node``, the whole single-node cluster of the node stage (node.py) instead.
"""

from __future__ import annotations

import argparse
import signal
import tempfile
import threading
from pathlib import Path

from tests.cluster.control_plane import running_control_plane
from tests.cluster.node import running_node


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, help="state directory (default: a temp dir)")
    parser.add_argument("--node", action="store_true", help="the node stage's whole cluster")
    args = parser.parse_args()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="operator-argo-kube-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.node:
            with running_node(workdir) as node:
                print(f"server {node.plane.server}; logs in {workdir}", flush=True)
                print(f"export KUBECONFIG={node.plane.kubeconfig}", flush=True)
                stop.wait()
            return
        with running_control_plane(workdir) as plane:
            print(f"server {plane.server}", flush=True)
            print(f"export KUBECONFIG={plane.kubeconfig}", flush=True)
            stop.wait()


if __name__ == "__main__":
    main()
