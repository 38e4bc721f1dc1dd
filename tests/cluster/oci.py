"""OCI image archives written from root filesystem tarballs, for a cluster without a registry.

An image here is one gzip layer (the tarball as it is), a config naming its entrypoint, user and
environment, a manifest and an index whose reference annotation is the image's full name, in the
OCI image layout packed as one tar: the form `ctr images import` and `buildah pull oci-archive:`
read. Test infrastructure only.

    python -m tests.cluster.oci ROOTFS.tar OUT.tar NAME [--entrypoint JSON] [--cmd JSON]
        [--user UID:GID] [--env K=V ...] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_ANNOTATION = "org.opencontainers.image.ref.name"
CHUNK = 1 << 20


def _digest_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _HashingWriter(io.RawIOBase):
    """A sink that hashes (and counts) what passes through on its way to ``target``."""

    def __init__(self, target: io.BufferedWriter) -> None:
        self.target, self.sha, self.size = target, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.target.write(data)
        self.sha.update(data)
        self.size += len(data)
        return len(data)


def _write_layer(rootfs: Path, blobs: Path) -> tuple[str, str, int]:
    """Gzip ``rootfs`` into a blob; return (diff id, layer digest, layer size)."""
    scratch = blobs / "layer.partial"
    diff = hashlib.sha256()
    with scratch.open("wb") as raw:
        sink = _HashingWriter(raw)
        # mtime=0 and level 1: the same tarball gives the same digest, quickly.
        with (
            rootfs.open("rb") as src,
            gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=1, mtime=0) as gz,
        ):  # type: ignore[arg-type]
            while chunk := src.read(CHUNK):
                diff.update(chunk)
                gz.write(chunk)
    digest = "sha256:" + sink.sha.hexdigest()
    scratch.rename(blobs / digest.removeprefix("sha256:"))
    return "sha256:" + diff.hexdigest(), digest, sink.size


def _write_blob(blobs: Path, data: bytes) -> tuple[str, int]:
    digest = _digest_bytes(data)
    (blobs / digest.removeprefix("sha256:")).write_bytes(data)
    return digest, len(data)


def write_image_archive(
    rootfs: Path,
    out: Path,
    name: str,
    *,
    entrypoint: Sequence[str] = (),
    cmd: Sequence[str] = (),
    user: str = "",
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
    workdir: str = "",
) -> str:
    """Write the one-layer image ``name`` made of ``rootfs`` to the archive ``out``; return its
    manifest digest."""
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        layout = Path(tmp)
        blobs = layout / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        diff_id, layer_digest, layer_size = _write_layer(rootfs, blobs)
        config: dict[str, object] = {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                k: v
                for k, v in {
                    "Entrypoint": list(entrypoint),
                    "Cmd": list(cmd),
                    "User": user,
                    "Env": list(env),
                    "WorkingDir": workdir,
                }.items()
                if v
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
        config_digest, config_size = _write_blob(blobs, json.dumps(config).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": MEDIA_LAYER, "digest": layer_digest, "size": layer_size}],
        }
        manifest_digest, manifest_size = _write_blob(blobs, json.dumps(manifest).encode())
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": MEDIA_MANIFEST,
                    "digest": manifest_digest,
                    "size": manifest_size,
                    "annotations": {REF_ANNOTATION: name},
                }
            ],
        }
        (layout / "index.json").write_text(json.dumps(index))
        (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        partial = out.with_suffix(".partial")
        with tarfile.open(partial, "w") as archive:
            for entry in ("oci-layout", "index.json", "blobs"):
                archive.add(layout / entry, arcname=entry)
        partial.rename(out)
    return manifest_digest


def rootfs_from_directory(directory: Path, out: Path) -> Path:
    """Tar ``directory`` as a root filesystem owned by root (what a layer holds)."""

    def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = 0
        return info

    with tarfile.open(out, "w") as archive:
        for entry in sorted(directory.iterdir()):
            archive.add(entry, arcname=entry.name, filter=as_root)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rootfs", type=Path, help="a root filesystem tarball, or a directory")
    parser.add_argument("out", type=Path)
    parser.add_argument("name", help="full image name, e.g. localhost/pause:1")
    parser.add_argument("--entrypoint", type=json.loads, default=[])
    parser.add_argument("--cmd", type=json.loads, default=[])
    parser.add_argument("--user", default="")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--env", action="append", default=None)
    args = parser.parse_args(argv)
    rootfs = args.rootfs
    with tempfile.TemporaryDirectory() as tmp:
        if rootfs.is_dir():
            rootfs = rootfs_from_directory(rootfs, Path(tmp) / "rootfs.tar")
        extra = {"env": args.env} if args.env else {}
        digest = write_image_archive(
            rootfs,
            args.out,
            args.name,
            entrypoint=args.entrypoint,
            cmd=args.cmd,
            user=args.user,
            workdir=args.workdir,
            **extra,
        )
    print(digest)


if __name__ == "__main__":
    main()
