"""The job spec's wire form: what is stored and what the steps receive."""

import dataclasses
import json

from operator_argo.domain.job import (
    AlgorithmSpec,
    ContainerSpec,
    InputSpec,
    JobSpec,
    RemoteSource,
    spec_from_dict,
    spec_to_dict,
)


def test_spec_to_dict_is_asdict_and_round_trips() -> None:
    spec = JobSpec(
        inputs=(
            InputSpec(index=0, did="did:op:a", urls=("http://127.0.0.1/a", "http://127.0.0.1/b")),
            InputSpec(
                index=1,
                did="did:op:b",
                remote=RemoteSource(tx_id="0x1", service_id="s", user_data={"k": [1]}),
            ),
        ),
        algorithm=AlgorithmSpec(
            did="did:op:c",
            container=ContainerSpec(
                entrypoint="python $ALGO", image="img", tag="t", checksum="sha256:00"
            ),
            rawcode="print(1)",
            urls=("http://127.0.0.1/algo",),
            remote=RemoteSource(
                tx_id="0x2", service_id="t", service_endpoint="http://127.0.0.1:8030"
            ),
            custom_data={"iterations": 3},
            user_data=None,
        ),
        metadata_uri="http://127.0.0.1:5000",
    )
    written = spec_to_dict(spec)
    assert json.dumps(written, sort_keys=True) == json.dumps(
        dataclasses.asdict(spec), sort_keys=True
    )
    assert spec_from_dict(json.loads(json.dumps(written))) == spec
