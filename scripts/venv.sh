#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment `.venv` with the package installed in
# editable mode, and print its directory. Both README commands go through here, so neither needs
# a pip that may write outside a virtual environment (Debian's Python is externally managed).
#
#   bash scripts/venv.sh [EXTRA]     EXTRA: an optional dependency group of pyproject.toml (test)
#
#   OPERATOR_ARGO_PYTHON   the interpreter that creates the environment (default: python3)
#   OPERATOR_ARGO_VENV     where the environment lives (default: .venv in the repository)
set -euo pipefail
cd "$(dirname "$0")/.."

extra="${1:-}"
python="${OPERATOR_ARGO_PYTHON:-python3}"
venv="${OPERATOR_ARGO_VENV:-$PWD/.venv}"

if [[ ! -x "$venv/bin/python" ]]; then
    if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        # Debian ships venv's pip bootstrap separately.
        if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
            echo "installing python3-venv" >&2
            DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        else
            echo "scripts/venv.sh: $python cannot create virtual environments;" \
                "install python3-venv (apt-get install python3-venv) and run again" >&2
            exit 1
        fi
    fi
    echo "creating $venv with $("$python" --version 2>&1)" >&2
    "$python" -m venv "$venv"
fi

# Reinstall only when pyproject.toml changed since this extra (or, for the plain install, any
# extra) was installed.
digest="$(sha256sum pyproject.toml | cut -c1-32)"
stamp="$venv/.installed-${extra:-base}"
candidates=("$stamp")
[[ -n "$extra" ]] || candidates+=("$venv"/.installed-*)
current=0
for candidate in "${candidates[@]}"; do
    [[ -f "$candidate" && "$(cat "$candidate")" == "$digest" ]] && current=1
done
if [[ $current == 0 ]]; then
    target="."
    [[ -n "$extra" ]] && target=".[$extra]"
    echo "installing operator-argo${extra:+ with [$extra]} into $venv" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$target" >&2
    echo "$digest" >"$stamp"
fi
echo "$venv"
