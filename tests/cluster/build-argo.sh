#!/usr/bin/env bash
# Build (or reuse) Argo's workflow-controller and kwok for the stage-3 cluster tests.
#
# Both modules carry no replace directives, so `go install module/cmd@version` builds them as
# released. Cached under ${OPERATOR_ARGO_CACHE:-$HOME/.cache/operator-argo}/cluster/argo-<version>/
# and reused; prints the binary directory on the last line of stdout.
set -euo pipefail

ARGO_VERSION="${ARGO_VERSION:-v4.0.5}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
CACHE_ROOT="${OPERATOR_ARGO_CACHE:-$HOME/.cache/operator-argo}"
OUT="$CACHE_ROOT/cluster/argo-$ARGO_VERSION-kwok-$KWOK_VERSION"
BIN="$OUT/bin"

# kwok's own node and pod lifecycle stages (the harness adds one that ends Argo's pods),
# copied out of the module cache so that a run needs no Go toolchain.
if [[ ! -f "$OUT/kwok-stages/$KWOK_VERSION" ]]; then
    kwok_dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
    mkdir -p "$OUT/kwok-stages"
    stages="$kwok_dir/kustomize/stage"
    cp "$stages/node/fast/node-initialize.yaml" "$stages/node/heartbeat/node-heartbeat.yaml" \
        "$stages/pod/fast/pod-ready.yaml" "$stages/pod/fast/pod-delete.yaml" "$OUT/kwok-stages/"
    chmod u+w "$OUT/kwok-stages/"*.yaml
    touch "$OUT/kwok-stages/$KWOK_VERSION"
fi

if [[ -x "$BIN/workflow-controller" && -x "$BIN/kwok" ]]; then
    echo "argo binaries cached in $BIN" >&2
    echo "$BIN"
    exit 0
fi
mkdir -p "$BIN"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-p=2 -trimpath" GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$BIN"
started=$(date +%s)
echo "building kwok $KWOK_VERSION" >&2
nice -n 10 go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
echo "building workflow-controller $ARGO_VERSION" >&2
nice -n 10 go install -ldflags "-s -w -X github.com/argoproj/argo-workflows/v4.version=$ARGO_VERSION" \
    "github.com/argoproj/argo-workflows/v4/cmd/workflow-controller@$ARGO_VERSION"
elapsed=$(($(date +%s) - started))
echo "argo $ARGO_VERSION kwok $KWOK_VERSION built in ${elapsed}s on $(nproc) cores ($(date -u +%FT%TZ))" \
    >>"$OUT/build-times.txt"
echo "$BIN"
