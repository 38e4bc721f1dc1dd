"""Remote assets: resolve a DID's DDO and download its files through the Ocean provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from operator_argo.domain.errors import TransferFailed
from operator_argo.domain.job import did_folder
from operator_argo.steps.transfer import ByteBudget, Fetcher

if TYPE_CHECKING:  # eth-account takes seconds to import: only jobs with remote assets pay
    from operator_argo.steps.signer import DownloadSigner

DDO_PATH = "/api/aquarius/assets/ddo/"
FILEINFO_PATH = "/api/services/fileinfo"
DOWNLOAD_PATH = "/api/services/download"


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + path


def service_endpoint(ddo: Any, service_id: str, label: str) -> str:
    """The provider URL of the DDO's service `service_id`."""
    services = ddo.get("services") if isinstance(ddo, dict) else None
    for service in services if isinstance(services, list) else ():
        if isinstance(service, dict) and str(service.get("id")) == service_id:
            endpoint = service.get("serviceEndpoint")
            if isinstance(endpoint, str) and endpoint:
                return endpoint
            raise TransferFailed(f"{label}: service {service_id} has no serviceEndpoint")
    raise TransferFailed(f"{label}: the DDO has no service {service_id}")


class ProviderClient:
    """Talks to Aquarius (DDOs) and providers (fileinfo, signed downloads) for one job."""

    def __init__(self, fetcher: Fetcher, env_key: str) -> None:
        self._fetcher = fetcher
        self._env_key = env_key
        self._signer: DownloadSigner | None = None

    def _get_signer(self, label: str) -> DownloadSigner:
        """The key is parsed (and eth-account imported) only when a download needs it."""
        if self._signer is None:
            if not self._env_key:
                raise TransferFailed(f"{label}: no environment key to sign provider downloads")
            from operator_argo.steps.signer import DownloadSigner  # noqa: PLC0415 (slow import)

            self._signer = DownloadSigner(self._env_key)
        return self._signer

    async def fetch_ddo(self, metadata_uri: str, did: str, ddo_dir: Path, *, label: str) -> Any:
        """Fetch the DDO of `did`, save it as ddos/<did folder>, and return it parsed."""
        url = _join(metadata_uri, DDO_PATH + did)
        ddo, raw = await self._fetcher.fetch_json(url, label=f"{label}: DDO")
        (ddo_dir / did_folder(did)).write_bytes(raw)
        return ddo

    async def file_count(self, provider: str, did: str, service_id: str, *, label: str) -> int:
        """How many files the provider serves for `did`/`service_id`."""
        url = _join(provider, FILEINFO_PATH)
        body = {"did": did, "serviceId": service_id}
        files, _ = await self._fetcher.fetch_json(
            url, label=f"{label}: fileinfo", body=body, method="POST"
        )
        if not isinstance(files, list) or not files:
            raise TransferFailed(f"{label}: the provider lists no files")
        return len(files)

    async def download(
        self,
        provider: str,
        did: str,
        *,
        tx_id: str,
        service_id: str,
        index: int,
        user_data: Any,
        dest: Path,
        budget: ByteBudget,
        label: str,
    ) -> int:
        """Download file `index` of `did`, signed by the environment's key."""
        signer = self._get_signer(label)
        nonce = signer.next_nonce()
        params = {
            "fileIndex": str(index),
            "documentId": did,
            "transferTxId": tx_id,
            "serviceId": service_id,
            "consumerAddress": signer.address,
            "nonce": str(nonce),
            "signature": signer.sign(did, nonce),
        }
        if user_data is not None:
            params["userdata"] = json.dumps(user_data)
        url = _join(provider, DOWNLOAD_PATH)
        return await self._fetcher.download(url, dest, budget, label=label, params=params)
