#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run the whole suite.
# This is the README's test command and what CI runs (.ci/run).
#
#   bash scripts/test.sh            everything: the suite on the in-process fake Kubernetes API,
#                                   then the Argo engine and cluster tests on a real kube-apiserver
#   bash scripts/test.sh ARGS...    only `pytest ARGS...` (after the installs)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v bwrap >/dev/null 2>&1; then
  # The local engine's sandbox; its tests assert real isolation, so it must be present.
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq bubblewrap >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
bash scripts/install-helm.sh >/dev/null
# kube-apiserver and etcd from their Go modules: ~16 min the first time, cached afterwards.
bash tests/cluster/build.sh

if [ "$#" -gt 0 ]; then
  exec python3 -m pytest "$@"
fi
python3 -m pytest
python3 -m pytest --kube=real tests/cluster tests/integration/argo
