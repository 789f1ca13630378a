"""The manifest validator itself: it must reject what the API server would reject."""

from __future__ import annotations

import copy
from typing import Any

from tests.k8s_validate import kubernetes_version, validate_manifest, validate_object

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "d", "labels": {"app": "d"}},
    "spec": {
        "selector": {"matchLabels": {"app": "d"}},
        "template": {
            "metadata": {"labels": {"app": "d"}},
            "spec": {"containers": [{"name": "c", "image": "img:1"}]},
        },
    },
}

TOPIC: dict[str, Any] = {
    "apiVersion": "kafka.strimzi.io/v1",
    "kind": "KafkaTopic",
    "metadata": {"name": "t", "labels": {"strimzi.io/cluster": "olist"}},
    "spec": {"partitions": 3, "replicas": 1, "config": {"retention.ms": 604800000}},
}


def test_pinned_kubernetes_version_is_major_minor() -> None:
    assert kubernetes_version().count(".") == 1


def test_valid_builtin_and_custom_resources_pass() -> None:
    assert validate_manifest(DEPLOYMENT) == []
    assert validate_manifest(TOPIC) == []


def test_unknown_builtin_field_fails_only_in_strict_mode() -> None:
    doc = copy.deepcopy(DEPLOYMENT)
    doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "IfNotPresent"
    errors = validate_manifest(doc)
    assert any("imagePullPolcy" in e for e in errors), errors
    assert validate_manifest(doc, strict=False) == []


def test_wrong_builtin_type_fails() -> None:
    doc = copy.deepcopy(DEPLOYMENT)
    doc["spec"]["replicas"] = "two"
    assert validate_manifest(doc, strict=False)


def test_unknown_crd_field_fails_in_strict_mode_but_config_maps_stay_open() -> None:
    doc = copy.deepcopy(TOPIC)
    doc["spec"]["partitons"] = 3
    assert any("partitons" in e for e in validate_manifest(doc))
    assert validate_manifest(doc, strict=False) == []
    # spec.config preserves unknown fields: any topic config key is allowed.
    doc = copy.deepcopy(TOPIC)
    doc["spec"]["config"]["some.future.config"] = "x"
    assert validate_manifest(doc) == []


def test_crd_metadata_is_checked_as_object_meta() -> None:
    doc = copy.deepcopy(TOPIC)
    doc["metadata"]["label"] = {"a": "b"}
    assert any("metadata" in e and "label" in e for e in validate_manifest(doc))


def test_removed_api_version_and_unknown_kind_are_errors() -> None:
    doc = copy.deepcopy(TOPIC)
    doc["apiVersion"] = "kafka.strimzi.io/v1beta2"
    assert validate_manifest(doc)
    assert validate_manifest({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {}})
    assert validate_manifest({"kind": "ConfigMap"})


def test_prometheus_rule_re2_pattern_is_usable() -> None:
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "r"},
        "spec": {
            "groups": [
                {
                    "name": "g",
                    "partial_response_strategy": "warn",
                    "rules": [{"alert": "A", "expr": "up == 0", "for": "5m"}],
                }
            ]
        },
    }
    assert validate_manifest(rule) == []
    rule["spec"]["groups"][0]["partial_response_strategy"] = "sometimes"
    assert validate_manifest(rule)


def test_fragment_validation_against_a_definition() -> None:
    assert (
        validate_object(
            {"containers": [{"name": "a", "image": "b:1"}]}, "io.k8s.api.core.v1.PodSpec"
        )
        == []
    )
    assert validate_object(
        {"containers": [{"name": "a", "imag": "b:1"}]}, "io.k8s.api.core.v1.PodSpec"
    )
