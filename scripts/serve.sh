#!/usr/bin/env bash
# The README's first command: install operator-argo into the project's virtual environment
# (scripts/venv.sh, reused afterwards) and serve it on its embedded defaults. Arguments go to
# `operator-argo serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(bash scripts/venv.sh)"
exec "$venv/bin/operator-argo" serve "$@"
