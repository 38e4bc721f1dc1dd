"""A throw-away certificate authority for the node stage's cluster, made with `openssl`.

One CA signs the API server's serving certificate (valid for the node's address, the
`kubernetes` Service's cluster IP and its DNS names, so that pods verify it), the kubelet's
serving certificate, and the API server's client certificate for the kubelet. Test only.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Sequence
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_ca(directory: Path) -> KeyPair:
    directory.mkdir(parents=True, exist_ok=True)
    pair = KeyPair(directory / "ca.crt", directory / "ca.key")
    _openssl("genrsa", "-out", pair.key, "2048")
    subject = "/CN=operator-argo-test-ca"
    _openssl(
        "req", "-x509", "-new", "-key", pair.key, "-days", "30", "-subj", subject, "-out", pair.cert
    )  # fmt: skip
    return pair


def issue(
    ca: KeyPair,
    name: str,
    *,
    common_name: str,
    organization: str = "",
    ips: Sequence[str] = (),
    dns: Sequence[str] = (),
    client: bool = False,
) -> KeyPair:
    """A key and a certificate signed by ``ca``: a server certificate for ``ips`` and ``dns``, or
    (``client=True``) a client certificate for ``common_name`` in group ``organization``."""
    directory = ca.cert.parent
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    subject = f"/CN={common_name}" + (f"/O={organization}" if organization else "")
    request = directory / f"{name}.csr"
    _openssl("genrsa", "-out", pair.key, "2048")
    _openssl("req", "-new", "-key", pair.key, "-subj", subject, "-out", request)
    extensions = directory / f"{name}.ext"
    usage = "clientAuth" if client else "serverAuth"
    lines = ["basicConstraints=CA:FALSE", "keyUsage=digitalSignature,keyEncipherment",
             f"extendedKeyUsage={usage}"]  # fmt: skip
    names = [f"IP:{ip}" for ip in ips] + [f"DNS:{host}" for host in dns]
    if names:
        lines.append("subjectAltName=" + ",".join(names))
    extensions.write_text("\n".join(lines) + "\n")
    _openssl(
        "x509", "-req", "-in", request, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial",
        "-days", "30", "-extfile", extensions, "-out", pair.cert,
    )  # fmt: skip
    return pair
