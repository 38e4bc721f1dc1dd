"""The filtering step and the pod placement of an environment, as OPERATOR_ENVIRONMENTS has them."""

from __future__ import annotations

from typing import Any

import pytest

from operator_argo.config_environments import parse_environment
from operator_argo.domain.environment import FILTER_TIMEOUT, Environment, PodPlacement
from operator_argo.domain.errors import ConfigurationError
from operator_argo.engines.argo.placement import check_placement

GPU_POOL: dict[str, Any] = {
    "nodeSelector": {"node-pool": "gpu", "example.com/zone": "a"},
    "tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
        {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30},
    ],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["a100"]}]}
                ]
            }
        }
    },
    "priorityClassName": "c2d-gpu",
    "runtimeClassName": "gvisor",
    "imagePullSecrets": ["images", {"name": "more-images"}],
    "imagePullPolicy": "Always",
}


def parse(**fields: Any) -> Environment:
    return parse_environment({"id": "env", **fields}, 0, "default-ns")


def test_a_filter_needs_an_image_and_a_command_and_defaults_its_timeout() -> None:
    env = parse(filter={"image": "filters/x:1", "command": ["python", "/f.py"]})
    assert env.filter is not None
    assert (env.filter.image, env.filter.command) == ("filters/x:1", ("python", "/f.py"))
    assert env.filter.timeout == FILTER_TIMEOUT
    assert parse().filter is None


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ({"command": ["x"]}, "filter.image"),
        ({"image": "f", "command": "rm -rf"}, "filter.command"),
        ({"image": "f", "command": []}, "filter.command"),
        ({"image": "f", "command": ["x"], "timeout": 0}, "filter.timeout"),
        ({"image": "f", "command": ["x"], "entrypoint": "y"}, "unknown keys"),
        ("filters/x:1", "filter must be an object"),
    ],
)
def test_a_bad_filter_names_its_field(value: Any, complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        parse(filter=value)


def test_placement_keeps_the_kubernetes_fields() -> None:
    placement = parse(**GPU_POOL).placement
    assert placement.node_selector == GPU_POOL["nodeSelector"]
    assert placement.tolerations == tuple(GPU_POOL["tolerations"])
    assert placement.affinity == GPU_POOL["affinity"]
    assert (placement.priority_class_name, placement.runtime_class_name) == ("c2d-gpu", "gvisor")
    assert placement.image_pull_secrets == ("images", "more-images")
    assert placement.image_pull_policy == "Always"
    assert parse().placement == PodPlacement()
    check_placement([parse(**GPU_POOL)])  # the Kubernetes models accept it too


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"nodeSelector": ["gpu"]}, "nodeSelector must be an object"),
        ({"nodeSelector": {"bad key!": "x"}}, "invalid label key"),
        ({"nodeSelector": {"pool": "no spaces"}}, "invalid label value"),
        ({"nodeSelector": {"pool": 1}}, "invalid label value"),
        ({"tolerations": {"key": "x"}}, "tolerations must be a list"),
        ({"tolerations": [{"key": "x", "operater": "Exists"}]}, "unknown keys"),
        ({"tolerations": [{"key": "x", "operator": "In"}]}, "Exists or Equal"),
        ({"tolerations": [{"value": "x"}]}, "without a key needs operator Exists"),
        ({"tolerations": [{"key": "x", "operator": "Exists", "value": "y"}]}, "value"),
        ({"tolerations": [{"key": "x", "effect": "NoRun"}]}, "effect"),
        ({"tolerations": [{"key": "x", "tolerationSeconds": 5}]}, "tolerationSeconds"),
        ({"affinity": {"nodeAfinity": {}}}, "unknown keys"),
        ({"affinity": {"nodeAffinity": []}}, "affinity must be an object of objects"),
        ({"priorityClassName": "High Priority"}, "priorityClassName"),
        ({"runtimeClassName": "gVisor"}, "runtimeClassName"),
        ({"imagePullSecrets": "images"}, "imagePullSecrets"),
        ({"imagePullSecrets": [{"name": "x", "namespace": "y"}]}, r"imagePullSecrets\[0\]"),
        ({"imagePullPolicy": "Sometimes"}, "imagePullPolicy"),
    ],
)
def test_bad_placement_stops_start_up_naming_the_field(
    fields: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        parse(**fields)


@pytest.mark.parametrize(
    ("affinity", "complaint"),
    [
        (
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpresions": []}]
                    }
                }
            },
            r"nodeSelectorTerms\[0\]\.matchExpresions is not a field of Affinity",
        ),
        (
            {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{}]}},
            "topologyKey: Field required",
        ),
        (
            {
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": "heavy", "preference": {}}
                    ]
                }
            },
            "weight",
        ),
    ],
)
def test_the_argo_engine_holds_affinity_to_the_kubernetes_model(
    affinity: dict[str, Any], complaint: str
) -> None:
    environment = parse(affinity=affinity)  # shape-checked only: objects of objects
    with pytest.raises(ConfigurationError, match=complaint):
        check_placement([environment])


def test_an_environment_may_refuse_local_urls_and_does_not_by_default() -> None:
    assert parse().refuse_local_urls is False
    assert parse(refuseLocalUrls=True).refuse_local_urls is True
    with pytest.raises(ConfigurationError, match="refuseLocalUrls must be true or false"):
        parse(refuseLocalUrls="yes")
