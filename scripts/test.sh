#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run the whole suite.
# This is the README's test command and what CI runs.
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

python3 -m pytest "$@"
