"""JSON schemas for the monitoring.coreos.com objects the manifests use.

kubernetes-validate knows only the built-in kinds. These schemas hold the prometheus-operator's
field names, types and enums for the fields deploy/kubernetes uses, written from its CRDs
(monitoring.coreos.com/v1 ServiceMonitor and PrometheusRule as of prometheus-operator v0.93.0).
They are strict where the CRDs are loose on purpose: every object lists its known fields and
refuses others, so a misspelt field (`tlsconfig`, `basicauth.user`), which the API server would
accept into a structural schema's pruning and silently drop, fails here. A field the manifests
start to use is added with the CRD's definition next to it.

Why not the CRDs themselves: they are ~90 KB of generated YAML from another project and would
have to be kept in step by hand all the same; these are the few paths that matter, in one place.
"""

from __future__ import annotations

from typing import Any


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }


_STRING = {"type": "string"}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
# Go's time.Duration strings as the operator's `Duration` type accepts them.
_DURATION = {"type": "string", "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}

# core/v1 SecretKeySelector and ConfigMapKeySelector: `key` required, `name`, `optional`.
_KEY_SELECTOR = _object({"name": _STRING, "key": _STRING, "optional": {"type": "boolean"}}, ["key"])
# SecretOrConfigMap: one of the two.
_SECRET_OR_CONFIGMAP = {
    **_object({"secret": _KEY_SELECTOR, "configMap": _KEY_SELECTOR}),
    "maxProperties": 1,
}

_METADATA = _object(
    {
        "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 253},
        "namespace": _STRING,
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
    ["name"],
)

_LABEL_SELECTOR = _object(
    {
        "matchLabels": _STRING_MAP,
        "matchExpressions": {
            "type": "array",
            "items": _object(
                {"key": _STRING, "operator": _STRING, "values": {"type": "array", "items": _STRING}},
                ["key", "operator"],
            ),
        },
    }
)

_ENDPOINT = _object(
    {
        "port": _STRING,
        "targetPort": {"type": ["string", "integer"]},
        "path": _STRING,
        "scheme": {"type": "string", "enum": ["http", "https", "HTTP", "HTTPS"]},
        "interval": _DURATION,
        "scrapeTimeout": _DURATION,
        "honorLabels": {"type": "boolean"},
        "tlsConfig": _object(
            {
                "ca": _SECRET_OR_CONFIGMAP,
                "cert": _SECRET_OR_CONFIGMAP,
                "keySecret": _KEY_SELECTOR,
                "serverName": _STRING,
                "insecureSkipVerify": {"type": "boolean"},
                "minVersion": {"type": "string", "enum": ["TLS10", "TLS11", "TLS12", "TLS13"]},
                "maxVersion": {"type": "string", "enum": ["TLS10", "TLS11", "TLS12", "TLS13"]},
            }
        ),
        "basicAuth": _object({"username": _KEY_SELECTOR, "password": _KEY_SELECTOR}),
    }
)

SERVICE_MONITOR = _object(
    {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": _METADATA,
        "spec": _object(
            {
                "jobLabel": _STRING,
                "selector": _LABEL_SELECTOR,
                "namespaceSelector": _object(
                    {"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": _STRING}}
                ),
                "endpoints": {"type": "array", "minItems": 1, "items": _ENDPOINT},
            },
            ["selector", "endpoints"],
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)

_INT_OR_STRING = {"anyOf": [{"type": "integer"}, {"type": "string"}]}

_RULE = {
    **_object(
        {
            "alert": _STRING,
            "record": _STRING,
            "expr": {**_INT_OR_STRING, "minLength": 1},
            "for": _DURATION,
            "keep_firing_for": {"type": "string", "minLength": 1},
            "labels": _STRING_MAP,
            "annotations": _STRING_MAP,
        },
        ["expr"],
    ),
    # A rule is an alerting rule or a recording rule, never both.
    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
}

PROMETHEUS_RULE = _object(
    {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": _METADATA,
        "spec": _object(
            {
                "groups": {
                    "type": "array",
                    "items": _object(
                        {
                            "name": {"type": "string", "minLength": 1},
                            "interval": _DURATION,
                            "query_offset": _DURATION,
                            "limit": {"type": "integer"},
                            "partial_response_strategy": _STRING,
                            "labels": _STRING_MAP,
                            "rules": {"type": "array", "items": _RULE},
                        },
                        ["name"],
                    ),
                }
            }
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)

SCHEMAS = {"ServiceMonitor": SERVICE_MONITOR, "PrometheusRule": PROMETHEUS_RULE}
