"""The configure step as a real subprocess against fake file servers, Aquarius and a provider."""

from __future__ import annotations

import hashlib
import json
import stat
import time

from operator_argo.domain.job import InputSpec, RemoteSource
from tests.fakes.ocean import ENV_ADDRESS, ENV_KEY, Asset, FakeOcean
from tests.integration.steps.stepkit import JobDirs, configure_env, make_spec, run_step

DID_A = "did:op:" + "a1" * 32


def _fact(index: int, data: bytes) -> dict[str, object]:
    """A file as configure reports it: its index, size and sha256 (the receipt states them)."""
    return {"index": index, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


DID_B = "did:op:" + "b2" * 32
ALGO_DID = "did:op:" + "c3" * 32


def _url_input(ocean: FakeOcean, index: int, did: str, files: dict[str, bytes]) -> InputSpec:
    ocean.files.update(files)
    return InputSpec(index=index, did=did, urls=tuple(ocean.file_url(name) for name in files))


async def test_url_inputs_raw_algorithm_and_custom_data(
    ocean: FakeOcean, job_dirs: JobDirs
) -> None:
    first = _url_input(ocean, 0, DID_A, {"a0": b"alpha-0", "a1": b"alpha-1" * 1000, "a2": b""})
    second = _url_input(ocean, 1, DID_B, {"b0": b"beta"})
    spec = make_spec([first, second], rawcode="print(42)\n", custom_data={"iterations": 10})

    run = await run_step("configure", configure_env(job_dirs, spec))

    assert run.code == 0, run.stderr
    data = job_dirs.volume
    for name in ("inputs", "ddos", "transformations", "outputs", "logs"):
        assert (data / name).is_dir()
    assert (data / "inputs" / ("a1" * 32) / "0").read_bytes() == b"alpha-0"
    assert (data / "inputs" / ("a1" * 32) / "1").read_bytes() == b"alpha-1" * 1000
    assert (data / "inputs" / ("a1" * 32) / "2").read_bytes() == b""
    assert (data / "inputs" / ("b2" * 32) / "0").read_bytes() == b"beta"
    algorithm = data / "transformations" / "algorithm"
    assert algorithm.read_text() == "print(42)\n"
    assert stat.S_IMODE(algorithm.stat().st_mode) == 0o755
    assert json.loads((data / "inputs" / "algoCustomData.json").read_text()) == {"iterations": 10}
    assert run.result == {
        "inputs": [
            {"did": DID_A, "index": 0, "error": None, "files": [
                _fact(0, b"alpha-0"), _fact(1, b"alpha-1" * 1000), _fact(2, b"")]},
            {"did": DID_B, "index": 1, "error": None, "files": [_fact(0, b"beta")]},
        ],
        "algorithm": {
            "did": None, "source": "rawcode", "bytes": 10, "error": None,
            "sha256": hashlib.sha256(b"print(42)\n").hexdigest(),
        },
        "error": None,
    }  # fmt: skip
    assert "configure finished" in (job_dirs.admin / "logs" / "configure.log").read_text()


async def test_remote_inputs_and_remote_algorithm_are_signed_downloads(
    ocean: FakeOcean, job_dirs: JobDirs
) -> None:
    dataset = Asset(did=DID_A, service_id="svc-a", tx_id="0xtx-a", files=[b"remote-0", b"remote-1"])
    algo = Asset(did=ALGO_DID, service_id="svc-algo", tx_id="0xtx-algo", files=[b"print('remote')"])
    ocean.add_asset(dataset)
    ocean.add_asset(algo)
    remote = RemoteSource(tx_id="0xtx-a", service_id="svc-a", user_data={"threshold": 0.5})
    spec = make_spec(
        [InputSpec(index=0, did=DID_A, remote=remote)],
        rawcode="",
        algo_did=ALGO_DID,
        remote=RemoteSource(tx_id="0xtx-algo", service_id="svc-algo", service_endpoint=ocean.url),
        metadata_uri=ocean.url,
    )

    run = await run_step("configure", configure_env(job_dirs, spec))

    assert run.code == 0, run.stderr
    folder = job_dirs.volume / "inputs" / ("a1" * 32)
    assert [(folder / str(k)).read_bytes() for k in (0, 1)] == [b"remote-0", b"remote-1"]
    algorithm = job_dirs.volume / "transformations" / "algorithm"
    assert algorithm.read_bytes() == b"print('remote')"
    ddos = job_dirs.volume / "ddos"
    assert json.loads((ddos / ("a1" * 32)).read_text())["id"] == DID_A
    assert json.loads((ddos / ("c3" * 32)).read_text())["id"] == ALGO_DID
    assert ocean.rejected == []
    assert [d["fileIndex"] for d in ocean.downloads] == ["0", "1", "0"]
    assert {d["consumerAddress"] for d in ocean.downloads} == {ENV_ADDRESS}
    assert json.loads(ocean.downloads[0]["userdata"]) == {"threshold": 0.5}
    assert "userdata" not in ocean.downloads[2]
    assert run.result is not None
    assert run.result["algorithm"]["source"] == "remote"
    assert run.result["inputs"][0]["files"] == [_fact(0, b"remote-0"), _fact(1, b"remote-1")]


async def test_remote_algorithm_without_endpoint_resolves_it_from_its_ddo(
    ocean: FakeOcean, job_dirs: JobDirs
) -> None:
    ocean.add_asset(Asset(did=ALGO_DID, service_id="svc", tx_id="0xtx", files=[b"code"]))
    spec = make_spec(
        [_url_input(ocean, 0, DID_A, {"x": b"x"})],
        rawcode="",
        algo_did=ALGO_DID,
        remote=RemoteSource(tx_id="0xtx", service_id="svc"),
        metadata_uri=ocean.url,
    )
    run = await run_step("configure", configure_env(job_dirs, spec))
    assert run.code == 0, run.stderr
    assert (job_dirs.volume / "transformations" / "algorithm").read_bytes() == b"code"


async def test_url_algorithm_uses_the_first_url(ocean: FakeOcean, job_dirs: JobDirs) -> None:
    ocean.files.update({"algo.py": b"print(1)", "other.py": b"print(2)"})
    spec = make_spec(
        [_url_input(ocean, 0, DID_A, {"x": b"x"})],
        rawcode="",
        urls=(ocean.file_url("algo.py"), ocean.file_url("other.py")),
    )
    run = await run_step("configure", configure_env(job_dirs, spec))
    assert run.code == 0, run.stderr
    algorithm = job_dirs.volume / "transformations" / "algorithm"
    assert algorithm.read_bytes() == b"print(1)"
    assert algorithm.stat().st_mode & stat.S_IXUSR
    assert "other.py" not in ocean.hits


async def test_missing_input_fails_with_31_and_skips_the_algorithm(
    ocean: FakeOcean, job_dirs: JobDirs
) -> None:
    spec = make_spec(
        [InputSpec(index=0, did=DID_A, urls=(ocean.file_url("gone"),))],
        rawcode="",
        urls=(ocean.file_url("also-gone"),),  # the algorithm would fail too: data wins
    )
    run = await run_step("configure", configure_env(job_dirs, spec))
    assert run.code == 31
    assert run.result is not None
    assert run.result["error"] == "input 0 file 0: HTTP 404"
    assert run.result["algorithm"] is None
    assert not (job_dirs.volume / "inputs" / ("a1" * 32) / "0").exists()


async def test_missing_algorithm_fails_with_32(ocean: FakeOcean, job_dirs: JobDirs) -> None:
    spec = make_spec(
        [_url_input(ocean, 0, DID_A, {"x": b"x"})], rawcode="", urls=(ocean.file_url("nope"),)
    )
    run = await run_step("configure", configure_env(job_dirs, spec))
    assert run.code == 32
    assert run.result is not None
    assert run.result["algorithm"]["error"] == "algorithm: HTTP 404"
    assert run.result["inputs"][0]["files"] == [_fact(0, b"x")]


async def test_provider_refuses_a_download_signed_by_another_key(
    ocean: FakeOcean, job_dirs: JobDirs
) -> None:
    ocean.add_asset(Asset(did=DID_A, service_id="svc", tx_id="0xtx", files=[b"secret"]))
    remote = RemoteSource(tx_id="0xtx", service_id="svc")
    spec = make_spec([InputSpec(index=0, did=DID_A, remote=remote)], metadata_uri=ocean.url)
    env = configure_env(job_dirs, spec, OPERATOR_ENV_KEY="0x" + "5d" * 32)
    run = await run_step("configure", env)
    assert run.code == 31
    assert ocean.rejected == ["signature is not the consumer's"]
    assert run.result is not None
    assert run.result["error"] == "input 0 file 0: HTTP 401"


async def test_a_stalled_server_hits_the_read_timeout(ocean: FakeOcean, job_dirs: JobDirs) -> None:
    ocean.files["slow"] = b"z" * 100
    ocean.stall["slow"] = 20
    spec = make_spec([InputSpec(index=0, did=DID_A, urls=(ocean.file_url("slow"),))])
    env = configure_env(job_dirs, spec, OPERATOR_HTTP_TIMEOUT="0.5", OPERATOR_HTTP_RETRIES="2")
    started = time.monotonic()
    run = await run_step("configure", env)
    assert run.code == 31
    assert time.monotonic() - started < 10
    assert ocean.hits["slow"] == 2
    assert run.result is not None
    assert run.result["error"] == "input 0 file 0: timed out (gave up after 2 attempts)"


async def test_inputs_over_the_size_limit_fail_and_leave_no_partial_file(
    ocean: FakeOcean, job_dirs: JobDirs
) -> None:
    ocean.generated["big"] = 5 * 1024 * 1024
    spec = make_spec(
        [_url_input(ocean, 0, DID_A, {"small": b"s" * 1000}),
         InputSpec(index=1, did=DID_B, urls=(ocean.file_url("big"),))]
    )  # fmt: skip
    run = await run_step(
        "configure", configure_env(job_dirs, spec, OPERATOR_MAX_INPUT_BYTES="4194304")
    )
    assert run.code == 31
    assert run.result is not None
    assert "exceed the download limit of 4194304 bytes" in run.result["error"]
    assert not (job_dirs.volume / "inputs" / ("b2" * 32) / "0").exists()


async def test_a_size_limit_without_content_length_stops_mid_stream(
    ocean: FakeOcean, job_dirs: JobDirs
) -> None:
    ocean.files["chunked"] = b"c" * (3 * 1024 * 1024)
    ocean.stall["chunked"] = 0  # streamed: no size known in advance
    spec = make_spec([InputSpec(index=0, did=DID_A, urls=(ocean.file_url("chunked"),))])
    run = await run_step(
        "configure", configure_env(job_dirs, spec, OPERATOR_MAX_INPUT_BYTES="1048576")
    )
    assert run.code == 31
    assert run.result is not None
    assert "exceed" in run.result["error"]
    assert not (job_dirs.volume / "inputs" / ("a1" * 32) / "0").exists()


async def test_transient_503s_are_retried(ocean: FakeOcean, job_dirs: JobDirs) -> None:
    inputs = [_url_input(ocean, 0, DID_A, {"flaky": b"finally"})]
    ocean.fail_first["flaky"] = 2
    run = await run_step("configure", configure_env(job_dirs, make_spec(inputs)))
    assert run.code == 0, run.stderr
    assert ocean.hits["flaky"] == 3
    assert (job_dirs.volume / "inputs" / ("a1" * 32) / "0").read_bytes() == b"finally"
    assert "HTTP 503; retrying" in (job_dirs.admin / "logs" / "configure.log").read_text()


async def test_no_secret_reaches_the_log_or_the_result(ocean: FakeOcean, job_dirs: JobDirs) -> None:
    ocean.add_asset(Asset(did=DID_A, service_id="svc", tx_id="0xtx", files=[b"d"]))
    ocean.files["private-dataset-path"] = b"p"
    remote = RemoteSource(
        tx_id="0xtx", service_id="svc", user_data={"password": "hunter2-userdata"}
    )
    private_url = ocean.file_url("private-dataset-path") + "?token=t0k3n"
    spec = make_spec(
        [
            InputSpec(index=0, did=DID_A, remote=remote),
            InputSpec(index=1, did=DID_B, urls=(private_url,)),
        ],
        metadata_uri=ocean.url,
    )
    run = await run_step("configure", configure_env(job_dirs, spec))
    assert run.code == 0, run.stderr
    log = (job_dirs.admin / "logs" / "configure.log").read_text()
    everything = log + run.stderr + json.dumps(run.result)
    assert "input 0 file 0" in log
    secrets = [ENV_KEY, ENV_KEY[2:], ocean.downloads[0]["signature"], "hunter2-userdata",
               "t0k3n", "private-dataset-path", "signature="]  # fmt: skip
    for secret in secrets:
        assert secret not in everything, secret


async def test_a_missing_spec_is_a_bad_environment(job_dirs: JobDirs) -> None:
    run = await run_step("configure", job_dirs.env())
    assert run.code == 2
    assert "OPERATOR_JOB_SPEC is required" in run.stderr


async def test_url_files_download_four_at_a_time_across_inputs(
    ocean: FakeOcean, job_dirs: JobDirs
) -> None:
    files = {f"{prefix}{k}": f"{prefix}-{k}".encode() * 5000 for prefix in "pq" for k in range(3)}
    for name in files:
        ocean.stall[name] = 0.3  # each file takes a moment: downloads overlap if they can
    first = _url_input(ocean, 0, DID_A, {n: files[n] for n in ("p0", "p1", "p2")})
    second = _url_input(ocean, 1, DID_B, {n: files[n] for n in ("q0", "q1", "q2")})

    run = await run_step("configure", configure_env(job_dirs, make_spec([first, second])))

    assert run.code == 0, run.stderr
    assert ocean.peak_in_flight == 4  # DOWNLOADS_AT_ONCE, shared by both inputs
    for folder, prefix in (("a1" * 32, "p"), ("b2" * 32, "q")):
        for k in range(3):
            data = (job_dirs.volume / "inputs" / folder / str(k)).read_bytes()
            assert data == files[f"{prefix}{k}"]
    assert run.result is not None
    assert [entry["files"] for entry in run.result["inputs"]] == [
        [_fact(k, files[f"{p}{k}"]) for k in range(3)] for p in "pq"
    ]


async def test_a_failed_file_stops_the_downloads_still_running(
    ocean: FakeOcean, job_dirs: JobDirs
) -> None:
    ocean.files.update({"slow0": b"s" * 100, "slow1": b"s" * 100})
    ocean.stall.update({"slow0": 20, "slow1": 20})
    slow = InputSpec(index=0, did=DID_A, urls=(ocean.file_url("slow0"), ocean.file_url("slow1")))
    broken = InputSpec(index=1, did=DID_B, urls=(ocean.file_url("missing"),))
    started = time.monotonic()
    run = await run_step("configure", configure_env(job_dirs, make_spec([slow, broken])))
    assert run.code == 31
    assert time.monotonic() - started < 10  # not waiting out the 20 s stalls
    assert run.result is not None
    assert run.result["error"] == "input 1 file 0: HTTP 404"
    assert [entry["error"] for entry in run.result["inputs"]] == [None, "input 1 file 0: HTTP 404"]
    assert not (job_dirs.volume / "inputs" / ("a1" * 32) / "0").exists()  # no partial file


async def test_inputs_sharing_a_did_take_turns_in_their_folder(
    ocean: FakeOcean, job_dirs: JobDirs
) -> None:
    first = _url_input(ocean, 0, DID_A, {"one": b"first input"})
    second = _url_input(ocean, 1, DID_A, {"two": b"second input"})
    ocean.stall.update({"one": 0.3, "two": 0.3})
    run = await run_step("configure", configure_env(job_dirs, make_spec([first, second])))
    assert run.code == 0, run.stderr
    assert ocean.peak_in_flight == 1
    assert (job_dirs.volume / "inputs" / ("a1" * 32) / "0").read_bytes() == b"second input"


async def test_provider_downloads_go_one_at_a_time_in_nonce_order(
    ocean: FakeOcean, job_dirs: JobDirs
) -> None:
    ocean.download_delay = 0.1
    remote = RemoteSource(tx_id="0xtx", service_id="svc")
    inputs = []
    for index, did in enumerate((DID_A, DID_B)):
        ocean.add_asset(
            Asset(did=did, service_id="svc", tx_id="0xtx", files=[b"x" * (index + 1), b"y"])
        )
        inputs.append(InputSpec(index=index, did=did, remote=remote))
    run = await run_step(
        "configure", configure_env(job_dirs, make_spec(inputs, metadata_uri=ocean.url))
    )
    assert run.code == 0, run.stderr
    assert ocean.rejected == []  # no nonce arrived after a higher one
    assert ocean.peak_in_flight == 1
    nonces = [int(query["nonce"]) for query in ocean.downloads]
    assert len(nonces) == 4 and nonces == sorted(nonces)
