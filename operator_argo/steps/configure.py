"""The configure step: lay out the job volume, download the inputs and the algorithm.

Exit codes (CONTRACT §4): 0 ready, 31 an input failed, 32 the algorithm failed, 2 a bad pod
environment; anything else is a crash. Inputs are fetched first and one failure stops the step
(the job is lost anyway), so a job whose data and algorithm are both unreachable reports 31.

Files from plain URLs download up to DOWNLOADS_AT_ONCE at a time, across inputs (inputs that
share a DID, and so a folder, take turns). Provider downloads go one at a time: each carries a
signed nonce that the provider wants to see increase, so they must arrive in the order signed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from operator_argo.domain.errors import ConfigurationError, OperatorError, TransferFailed
from operator_argo.domain.job import AlgorithmSpec, InputSpec, JobSpec, RemoteSource
from operator_argo.domain.progress import CONFIGURE_ALGORITHM_FAILED, CONFIGURE_DATA_FAILED
from operator_argo.domain.receipt import sha256_file
from operator_argo.steps.env import StepEnv, read_step_env, write_result
from operator_argo.steps.logs import close_step_log, human_bytes, open_step_log, rate
from operator_argo.steps.provider import ProviderClient, service_endpoint
from operator_argo.steps.transfer import ByteBudget, Fetcher, open_session

T = TypeVar("T")

EXIT_BAD_ENVIRONMENT = 2
DOWNLOADS_AT_ONCE = 4  # plain-URL files fetched at the same time
LAYOUT_DIRS = ("inputs", "ddos", "transformations", "outputs", "logs")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Layout:
    """The job volume's folders (CONTRACT §8)."""

    root: Path

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    @property
    def ddos(self) -> Path:
        return self.root / "ddos"

    @property
    def algorithm_file(self) -> Path:
        return self.root / "transformations" / "algorithm"


def make_layout(env: StepEnv) -> Layout:
    """Create the data folders under VOLUME and the admin log folder."""
    for name in LAYOUT_DIRS:
        (env.volume / name).mkdir(parents=True, exist_ok=True)
    env.log_dir.mkdir(parents=True, exist_ok=True)
    return Layout(root=env.volume)


def _folder_name(name: str, label: str) -> str:
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\0" in name:
        raise TransferFailed(f"{label}: {name!r} is not a usable folder name")
    return name


class Provisioner:
    """Fetches one job's inputs and algorithm onto the volume, within one byte budget."""

    def __init__(
        self, *, env: StepEnv, layout: Layout, fetcher: Fetcher, log: logging.Logger
    ) -> None:
        self._layout = layout
        self._fetcher = fetcher
        self._log = log
        self._budget = ByteBudget(env.max_input_bytes)
        self._url_slots = asyncio.Semaphore(DOWNLOADS_AT_ONCE)
        self._provider_turn = asyncio.Lock()  # signed downloads arrive in nonce order
        self.provider = ProviderClient(fetcher, env.env_key)

    async def _try_ddo(self, metadata_uri: str | None, did: str | None, label: str) -> Any:
        """Save the DDO when it can be resolved; its absence does not fail a URL asset."""
        if not metadata_uri or not did:
            return None
        try:
            return await self.provider.fetch_ddo(metadata_uri, did, self._layout.ddos, label=label)
        except (TransferFailed, OSError) as exc:
            self._log.warning("%s: no DDO saved (%s)", label, exc)
            return None

    async def _download(self, url: str, dest: Path, label: str) -> int:
        async with self._url_slots:
            started = time.monotonic()
            size = await self._fetcher.download(url, dest, self._budget, label=label)
        self._log.info("%s: %s", label, rate(size, time.monotonic() - started))
        return size

    async def _provider_download(
        self, endpoint: str, did: str, remote: RemoteSource, user_data: Any, *, index: int,
        dest: Path, label: str,
    ) -> int:  # fmt: skip
        async with self._provider_turn:
            started = time.monotonic()
            size = await self.provider.download(
                endpoint, did, tx_id=remote.tx_id, service_id=remote.service_id, index=index,
                user_data=user_data, dest=dest, budget=self._budget, label=label,
            )  # fmt: skip
        self._log.info("%s: %s", label, rate(size, time.monotonic() - started))
        return size

    async def provision_input(
        self, item: InputSpec, metadata_uri: str | None
    ) -> list[dict[str, Any]]:
        """Download every file of one input; returns each one's size and sha256 by file index
        (the receipt states them: domain/receipt.py)."""
        folder, sizes = await self._download_input(item, metadata_uri)
        digests = await asyncio.to_thread(
            lambda: [sha256_file(folder / str(k)) for k in range(len(sizes))]
        )
        return [{"bytes": n, "sha256": digest} for n, digest in zip(sizes, digests, strict=True)]

    async def _download_input(
        self, item: InputSpec, metadata_uri: str | None
    ) -> tuple[Path, list[int]]:
        label = f"input {item.index} ({item.did or 'no id'})"
        folder = self._layout.inputs / _folder_name(item.folder, label)
        folder.mkdir(parents=True, exist_ok=True)
        if item.remote is None:
            if not item.urls:
                raise TransferFailed(f"{label}: no files to download")
            if item.did is not None:
                await self._try_ddo(metadata_uri, item.did, label)
            sizes = await all_or_first_error(
                self._download(url, folder / str(k), f"input {item.index} file {k}")
                for k, url in enumerate(item.urls)
            )
            return folder, sizes
        if not metadata_uri:
            raise TransferFailed(f"{label}: a remote input needs output.metadataUri")
        if item.did is None:
            raise TransferFailed(f"{label}: a remote input needs its id (the asset's DID)")
        did, remote = item.did, item.remote
        ddo = await self.provider.fetch_ddo(metadata_uri, did, self._layout.ddos, label=label)
        endpoint = service_endpoint(ddo, remote.service_id, label)
        count = await self.provider.file_count(endpoint, did, remote.service_id, label=label)
        sizes = []
        for k in range(count):  # one at a time: see the module docstring
            label_k = f"input {item.index} file {k}"
            dest = folder / str(k)
            sizes.append(
                await self._provider_download(
                    endpoint, did, remote, remote.user_data, index=k, dest=dest, label=label_k
                )
            )
        return folder, sizes

    @property
    def downloaded_bytes(self) -> int:
        return self._budget.used

    async def provision_algorithm(
        self, algo: AlgorithmSpec, metadata_uri: str | None
    ) -> tuple[str, int, str]:
        """Write transformations/algorithm (executable); returns its source, size and sha256."""
        if algo.custom_data is not None:
            (self._layout.inputs / "algoCustomData.json").write_text(
                json.dumps(algo.custom_data), encoding="utf-8"
            )
        dest = self._layout.algorithm_file
        if algo.rawcode:
            dest.write_text(algo.rawcode, encoding="utf-8")
            source = "rawcode"
        elif algo.urls:
            await self._try_ddo(metadata_uri, algo.did, "algorithm")
            await self._download(algo.urls[0], dest, "algorithm")
            source = "url"
        elif algo.remote is not None:
            await self._remote_algorithm(algo, metadata_uri)
            source = "remote"
        else:
            raise TransferFailed("algorithm: no rawcode, url or remote source")
        dest.chmod(0o755)
        return source, dest.stat().st_size, await asyncio.to_thread(sha256_file, dest)

    async def _remote_algorithm(self, algo: AlgorithmSpec, metadata_uri: str | None) -> None:
        remote = algo.remote
        assert remote is not None
        if not algo.did:
            raise TransferFailed("algorithm: a remote algorithm needs its DID")
        ddo = await self._try_ddo(metadata_uri, algo.did, "algorithm")
        endpoint = remote.service_endpoint or service_endpoint(ddo, remote.service_id, "algorithm")
        user_data = remote.user_data if remote.user_data is not None else algo.user_data
        await self._provider_download(
            endpoint,
            algo.did,
            remote,
            user_data,
            index=0,
            dest=self._layout.algorithm_file,
            label="algorithm",
        )


async def all_or_first_error(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run `coros` concurrently; their results in order. The first failure cancels the others
    and is raised as itself (not wrapped in an exception group)."""
    tasks: list[asyncio.Task[T]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coro) for coro in coros]
    except BaseExceptionGroup as failed:
        first: BaseException = failed
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [task.result() for task in tasks]


async def _provision(spec: JobSpec, work: Provisioner, result: dict[str, Any]) -> int:
    entries: dict[int, dict[str, Any]] = {}
    for position, item in enumerate(spec.inputs):
        entries[position] = {"did": item.did, "index": item.index, "files": [], "error": None}
        result["inputs"].append(entries[position])

    async def provision(position: int, item: InputSpec) -> None:
        try:
            files = await work.provision_input(item, spec.metadata_uri)
        except (OperatorError, OSError) as exc:
            entries[position]["error"] = _message(exc)
            raise
        entries[position]["files"] = [{"index": k, **facts} for k, facts in enumerate(files)]

    async def in_turn(positions: list[int]) -> None:
        for position in positions:  # inputs that share a folder
            await provision(position, spec.inputs[position])

    by_folder: dict[str, list[int]] = {}
    for position, item in enumerate(spec.inputs):
        by_folder.setdefault(item.folder, []).append(position)
    try:
        await all_or_first_error(in_turn(positions) for positions in by_folder.values())
    except (OperatorError, OSError) as exc:
        result["error"] = _message(exc)
        return CONFIGURE_DATA_FAILED
    algo: dict[str, Any] = {
        "did": spec.algorithm.did, "source": None, "bytes": 0, "sha256": None, "error": None
    }  # fmt: skip
    result["algorithm"] = algo
    try:
        algo["source"], algo["bytes"], algo["sha256"] = await work.provision_algorithm(
            spec.algorithm, spec.metadata_uri
        )
    except (OperatorError, OSError) as exc:
        algo["error"] = result["error"] = _message(exc)
        return CONFIGURE_ALGORITHM_FAILED
    return 0


def _message(exc: BaseException) -> str:
    if isinstance(exc, OperatorError):
        return exc.message
    if isinstance(exc, OSError):
        return f"cannot write to the job volume: {exc.strerror or type(exc).__name__}"
    return type(exc).__name__


def _summary(spec: JobSpec) -> str:
    algo = spec.algorithm
    source = "raw code" if algo.rawcode else "a URL" if algo.urls else "a provider"
    return f"{len(spec.inputs)} input(s), algorithm from {source}"


async def run_configure(env: StepEnv) -> int:
    """Provision the job volume; writes the JSON result and returns the exit code."""
    assert env.spec is not None
    layout = make_layout(env)
    log = open_step_log(env.log_dir / "configure.log", "configure")
    result: dict[str, Any] = {"inputs": [], "algorithm": None, "error": None}
    started = time.monotonic()
    code = 1
    try:
        log.info("configure started for job %s: %s", env.job_id, _summary(env.spec))
        async with open_session(env.http_timeout) as session:
            fetcher = Fetcher(session, attempts=env.http_retries, log=log)
            work = Provisioner(env=env, layout=layout, fetcher=fetcher, log=log)
            code = await _provision(env.spec, work, result)
        elapsed = time.monotonic() - started
        if code == 0:
            done = human_bytes(work.downloaded_bytes)
            log.info("configure finished in %.2f s, %s downloaded", elapsed, done)
        else:
            log.error("configure failed after %.2f s: %s", elapsed, result["error"])
        return code
    except BaseException as exc:
        result["error"] = result["error"] or f"configure crashed: {type(exc).__name__}"
        log.exception("configure crashed")
        raise
    finally:
        write_result(env.result_file, result)
        close_step_log(log)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `operator-argo step configure`; reads the pod environment."""
    del argv  # everything comes from the environment
    try:
        env = read_step_env(need_spec=True)
    except ConfigurationError as exc:
        print(f"configure: {exc.message}", file=sys.stderr)
        return EXIT_BAD_ENVIRONMENT
    return asyncio.run(run_configure(env))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
