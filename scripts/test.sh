#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run the whole suite.
# This is the README's test command and what CI runs (.ci/run).
#
#   bash scripts/test.sh            everything: the suite on the in-process fake Kubernetes API,
#                                   then the Argo engine and cluster tests on a real
#                                   kube-apiserver, then real jobs on a real single-node cluster
#   bash scripts/test.sh ARGS...    only `pytest ARGS...` (after the installs)
#
# Python runs from the project's virtual environment (scripts/venv.sh; OPERATOR_ARGO_PYTHON
# picks the interpreter that creates it).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: bubblewrap (the local engine's sandbox, whose tests assert real isolation),
# and the node stage's container runtime, network, image builders and the local-path helper.
packages=(bubblewrap containerd runc containernetworking-plugins iptables ipset conntrack mmdebstrap
    buildah busybox-static openssl)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$package")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

venv="$(bash scripts/venv.sh test)"
export PATH="$venv/bin:$PATH"
export PYTHON="$venv/bin/python"
bash scripts/install-helm.sh >/dev/null
# Kubernetes (apiserver, etcd, and the node's kubelet, kube-proxy, scheduler, controller
# manager), Argo (workflow-controller, argoexec) and the local-path provisioner from their Go
# modules, then the images: about 40 minutes the first time, cached afterwards.
bash tests/cluster/build.sh >/dev/null
argo_bin="$(bash tests/cluster/build-argo.sh | tail -n 1)"
bash tests/cluster/build-images.sh "$argo_bin" >/dev/null

if [[ "$#" -gt 0 ]]; then
    exec python -m pytest "$@"
fi
python -m pytest
python -m pytest --kube=real tests/cluster tests/integration/argo
python -m pytest --kube=node tests/node
