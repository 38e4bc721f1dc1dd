#!/usr/bin/env bash
# Build (or reuse) every container image the node stage runs, without a registry or a daemon:
#
#   localhost/operator-argo-base:bookworm   Debian bookworm + Python 3.11, made by mmdebstrap: the
#                                           base the project's Dockerfile builds on here, and the
#                                           algorithm image of the tests (localhost/c2d-python:3.11)
#   localhost/operator-argo:<version>       the project's own Dockerfile, built by buildah
#   localhost/argoexec:<argo version>       Argo's executor (init, wait and emissary in job pods)
#   localhost/pause:1                       the pod sandbox (tests/cluster/images/pause)
#   localhost/busybox:1                     a shell for the local-path provisioner's helper pods
#
# Each lands as an OCI archive (what `ctr images import` reads) under
#   ${OPERATOR_ARGO_CACHE:-$HOME/.cache/operator-argo}/cluster/images/
# and is rebuilt only when its inputs change (the operator image: when the Dockerfile,
# pyproject.toml, README.md or operator_argo/ change). Usage: build-images.sh ARGO_BIN_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."

ARGO_BIN="${1:?usage: build-images.sh ARGO_BIN_DIR}"
ARGO_VERSION="${ARGO_VERSION:-v4.0.5}"
CACHE_ROOT="${OPERATOR_ARGO_CACHE:-$HOME/.cache/operator-argo}"
OUT="$CACHE_ROOT/cluster/images"
mkdir -p "$OUT"
VERSION=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
BUILDAH=(buildah --root "$OUT/buildah/root" --runroot "$OUT/buildah/run" --storage-driver vfs)
PYTHON=${PYTHON:-python3}

fresh() {  # fresh ARCHIVE STAMP: true when ARCHIVE was built from inputs whose digest is STAMP
    [[ -f "$1" && -f "$1.inputs" && "$(cat "$1.inputs")" == "$2" ]]
}
built() {  # built ARCHIVE STAMP: record what ARCHIVE was made from
    echo "$2" >"$1.inputs"
    echo "built $(basename "$1")" >&2
}
oci() {  # oci ROOTFS ARCHIVE NAME [options of tests/cluster/oci.py]
    "$PYTHON" -m tests.cluster.oci "$@" >/dev/null
}

# --- the Debian base. The build machine's own extra CA certificates go in, so that pip and apt
# inside image builds trust what the machine trusts.
base="$OUT/base.tar"
extra_cas=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum | cut -c1-16)
base_stamp="bookworm python3 python3-venv python-is-python3 ca-certificates passwd cas=$extra_cas"
if ! fresh "$base" "$base_stamp"; then
    rootfs="$OUT/base-rootfs.tar"
    # Take the machine's own apt sources, so that the image fetches from where the machine does.
    sources=(/etc/apt/sources.list.d/*.sources)
    [[ -f "${sources[0]}" ]] || sources=(/etc/apt/sources.list)
    mmdebstrap --quiet --variant=apt \
        --include=python3,python3-venv,python-is-python3,ca-certificates,passwd \
        --customize-hook='if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
            cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/"
            chroot "$1" update-ca-certificates >/dev/null; fi' \
        bookworm "$rootfs" "${sources[0]}"
    oci "$rootfs" "$base" localhost/operator-argo-base:bookworm --cmd '["python3"]'
    rm -f "$rootfs"
    built "$base" "$base_stamp"
fi

# --- the operator, from the project's Dockerfile on that base
operator="$OUT/operator-argo.tar"
operator_stamp=$( { sha256sum "$base.inputs" Dockerfile pyproject.toml README.md;
    git ls-files -z operator_argo | xargs -0 sha256sum; } | sha256sum | cut -c1-32)
if ! fresh "$operator" "$operator_stamp"; then
    "${BUILDAH[@]}" rmi --all --force >/dev/null 2>&1 || true
    "${BUILDAH[@]}" pull --quiet "oci-archive:$base" >/dev/null
    "${BUILDAH[@]}" bud --quiet --isolation chroot --pull-never \
        --build-arg BASE_IMAGE=localhost/operator-argo-base:bookworm \
        -t "localhost/operator-argo:$VERSION" . >/dev/null
    rm -f "$operator.partial"
    "${BUILDAH[@]}" push --quiet "localhost/operator-argo:$VERSION" \
        "oci-archive:$operator.partial:localhost/operator-argo:$VERSION"
    "${BUILDAH[@]}" rmi --all --force >/dev/null 2>&1 || true  # vfs keeps full copies: free them
    mv "$operator.partial" "$operator"
    built "$operator" "$operator_stamp"
fi

# --- small images from single files
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

argoexec="$OUT/argoexec.tar"
argoexec_stamp="$ARGO_VERSION $(sha256sum "$ARGO_BIN/argoexec" | cut -c1-32)"
if ! fresh "$argoexec" "$argoexec_stamp"; then
    root="$scratch/argoexec"
    mkdir -p "$root/bin" "$root/tmp" "$root/etc"
    chmod 1777 "$root/tmp"
    install -m 0755 "$ARGO_BIN/argoexec" "$root/bin/argoexec"
    echo "argo:x:8737:8737::/tmp:/sbin/nologin" >"$root/etc/passwd"
    oci "$root" "$argoexec" "localhost/argoexec:$ARGO_VERSION" --entrypoint '["argoexec"]' \
        --user 8737 --env PATH=/bin
    built "$argoexec" "$argoexec_stamp"
fi

pause="$OUT/pause.tar"
pause_stamp=$(cat tests/cluster/images/pause/* | sha256sum | cut -c1-32)
if ! fresh "$pause" "$pause_stamp"; then
    root="$scratch/pause"
    mkdir -p "$root"
    (cd tests/cluster/images/pause && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath \
        go build -ldflags "-s -w" -o "$root/pause" .)
    oci "$root" "$pause" localhost/pause:1 --entrypoint '["/pause"]' --user 65535
    built "$pause" "$pause_stamp"
fi

busybox="$OUT/busybox.tar"
busybox_stamp="$(sha256sum /bin/busybox | cut -c1-32)"
if ! fresh "$busybox" "$busybox_stamp"; then
    root="$scratch/busybox"
    mkdir -p "$root/bin" "$root/tmp"
    install -m 0755 /bin/busybox "$root/bin/busybox"
    for applet in sh mkdir rm rmdir chmod ls cat sleep; do
        ln -s busybox "$root/bin/$applet"
    done
    oci "$root" "$busybox" localhost/busybox:1 --cmd '["sh"]' --env PATH=/bin
    built "$busybox" "$busybox_stamp"
fi

echo "$OUT"
