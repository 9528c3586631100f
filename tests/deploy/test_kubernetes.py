"""deploy/kubernetes: every kustomization renders, every object validates, and the pieces agree.

Built-in kinds are validated by kubernetes-validate (strict: unknown fields fail) against
Kubernetes 1.28, the first release whose StatefulSet controller sets the
apps.kubernetes.io/pod-index label by default, and against the newest release it knows.
ServiceMonitor and PrometheusRule are validated against monitoring_schemas.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from conftest import KUBERNETES, REPO_ROOT, container, kustomize, only
from harness import binary
from monitoring_schemas import SCHEMAS

KUBERNETES_VERSIONS = ["1.28.0", kubernetes_validate.latest_version()]
NAME = "secrets-rotation-exporter"
CONFIG_DIR = "/etc/secrets-rotation-exporter"


def relative(path: Path, start: Path) -> str:
    """kustomize takes no absolute paths, but a relative one may leave its directory."""
    return os.path.relpath(path, start)


def render_with_sharded_tls(directory: Path) -> list[dict[str, Any]]:
    """The sharded overlay with the TLS component, as a user's own overlay would combine them."""
    (directory / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [relative(KUBERNETES / "overlays" / "sharded", directory)],
                "components": [relative(KUBERNETES / "components" / "tls-auth", directory)],
            }
        )
    )
    return kustomize(directory)


VARIANTS = ["base", "overlays/sharded", "overlays/tls-auth", "sharded+tls-auth"]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    out = {variant: kustomize(KUBERNETES / variant) for variant in VARIANTS[:3]}
    with tempfile.TemporaryDirectory() as scratch:
        out["sharded+tls-auth"] = render_with_sharded_tls(Path(scratch))
    return out


def test_generated_copies_match_alerts_and_dashboards() -> None:
    check = subprocess.run(
        ["python3", str(KUBERNETES / "generate.py"), "--check"], capture_output=True, text=True
    )
    assert check.returncode == 0, f"{check.stderr}run deploy/kubernetes/generate.py"


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_object_validates(rendered: dict[str, list[dict[str, Any]]], variant: str) -> None:
    failures = []
    for obj in rendered[variant]:
        label = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] in SCHEMAS:
            errors = list(jsonschema.Draft202012Validator(SCHEMAS[obj["kind"]]).iter_errors(obj))
            failures += [f"{label}: {'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
            continue
        assert "." not in obj["apiVersion"].split("/")[0] or obj["apiVersion"].startswith("apps/"), (
            f"{label}: {obj['apiVersion']} is neither built in nor in monitoring_schemas.py"
        )
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                failures.append(f"{label} (Kubernetes {version}): {error.path}: {error.message}")
    assert not failures, "\n".join(failures)
    kinds = sorted({obj["kind"] for obj in rendered[variant]})
    workload = "Deployment" if variant in ("base", "overlays/tls-auth") else "StatefulSet"
    assert kinds == sorted(
        ["ConfigMap", "PrometheusRule", "Service", "ServiceAccount", "ServiceMonitor", workload]
    ), kinds


def test_a_misspelt_field_fails_validation(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The validators are strict: a field the API does not know is reported, not ignored."""
    monitor = json.loads(json.dumps(only(rendered["overlays/tls-auth"], "ServiceMonitor")))
    monitor["spec"]["endpoints"][0]["tlsconfig"] = monitor["spec"]["endpoints"][0].pop("tlsConfig")
    assert list(jsonschema.Draft202012Validator(SCHEMAS["ServiceMonitor"]).iter_errors(monitor))
    deployment = json.loads(json.dumps(only(rendered["base"], "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["securitycontext"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.28.0", strict=True)


def check_pod_security(workload: dict[str, Any]) -> None:
    pod = workload["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == NAME
    exporter = container(workload)
    assert exporter["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert exporter["resources"]["requests"]["memory"] and exporter["resources"]["limits"]["memory"]
    assert exporter["ports"] == [{"name": "metrics", "containerPort": 9897, "protocol": "TCP"}]
    assert exporter["volumeMounts"] == [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}]
    assert f"--config.file={CONFIG_DIR}/config.yaml" in exporter["args"]


def check_service_monitor_finds_pods(objects: list[dict[str, Any]], workload: dict[str, Any]) -> None:
    """ServiceMonitor -> Service by labels and port name -> pods by selector."""
    monitor = only(objects, "ServiceMonitor")
    service = only(objects, "Service")
    wanted = monitor["spec"]["selector"]["matchLabels"]
    assert wanted.items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert [p["name"] for p in service["spec"]["ports"]] == ["metrics"]
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    pod_labels = workload["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert workload["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_base(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["base"]
    deployment = only(objects, "Deployment", NAME)
    assert deployment["spec"]["replicas"] == 1
    check_pod_security(deployment)
    check_service_monitor_finds_pods(objects, deployment)
    exporter = container(deployment)
    assert exporter["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert exporter["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert not any(arg.startswith("--shard") for arg in exporter["args"])
    # The volume names the generated (hash-suffixed) ConfigMap.
    config_maps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    volume = deployment["spec"]["template"]["spec"]["volumes"][0]
    assert volume["configMap"]["name"] in config_maps
    assert set(config_maps[volume["configMap"]["name"]]["data"]) == {"config.yaml"}


def test_dashboards_and_rules_are_those_of_the_repository(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["base"]
    dashboards = {
        o["metadata"]["name"]: o for o in objects if o["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    }
    sources = sorted((REPO_ROOT / "dashboards").glob("*.json"))
    assert sorted(dashboards) == [f"{NAME}-dashboard-{s.stem}" for s in sources]
    for source in sources:
        data = dashboards[f"{NAME}-dashboard-{source.stem}"]["data"]
        assert data == {source.name: source.read_text(encoding="utf-8")}
    rule = only(objects, "PrometheusRule")
    rules_file = yaml.safe_load((REPO_ROOT / "alerts" / "secrets-rotation.rules.yml").read_text())
    assert rule["spec"] == {"groups": rules_file["groups"]}


def test_the_configmap_config_is_valid(rendered: dict[str, list[dict[str, Any]]]) -> None:
    config = next(o for o in rendered["base"] if o["kind"] == "ConfigMap" and "config.yaml" in o.get("data", {}))
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "config.yaml"
        path.write_text(config["data"]["config.yaml"])
        checked = subprocess.run(
            [str(binary("secrets-rotation-exporter")), "config", "check", f"--config.file={path}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def shard_argument(statefulset: dict[str, Any]) -> str:
    shards = [arg for arg in container(statefulset)["args"] if arg.startswith("--shard")]
    assert len(shards) == 1, shards
    return shards[0]


@pytest.mark.parametrize("variant", ["overlays/sharded", "sharded+tls-auth"])
def test_sharded(rendered: dict[str, list[dict[str, Any]]], variant: str) -> None:
    objects = rendered[variant]
    assert not [o for o in objects if o["kind"] == "Deployment"]
    statefulset = only(objects, "StatefulSet", NAME)
    check_pod_security(statefulset)
    check_service_monitor_finds_pods(objects, statefulset)
    replicas = statefulset["spec"]["replicas"]
    assert replicas == 3
    assert shard_argument(statefulset) == f"--shard=$(POD_INDEX)/{replicas}"
    env = {e["name"]: e for e in container(statefulset)["env"]}
    assert env["POD_INDEX"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}
    }
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
    service = only(objects, "Service", statefulset["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"


def test_the_replica_count_sets_the_shard_count() -> None:
    """`replicas` in overlays/sharded is the one place N is written: the --shard count follows it."""
    with tempfile.TemporaryDirectory() as scratch:
        overlay = Path(scratch) / "sharded"
        shutil.copytree(KUBERNETES / "overlays" / "sharded", overlay)
        kustomization = (overlay / "kustomization.yaml").read_text()
        kustomization = kustomization.replace("../../base", relative(KUBERNETES / "base", overlay))
        changed, count = re.subn(r"(?m)^(\s+count:) 3$", r"\1 5", kustomization)
        assert count == 1, "overlays/sharded/kustomization.yaml has no single `count: 3`"
        (overlay / "kustomization.yaml").write_text(changed)
        statefulset = only(kustomize(overlay), "StatefulSet")
    assert statefulset["spec"]["replicas"] == 5
    assert shard_argument(statefulset) == "--shard=$(POD_INDEX)/5"


@pytest.mark.parametrize("variant", ["overlays/tls-auth", "sharded+tls-auth"])
def test_tls_auth(rendered: dict[str, list[dict[str, Any]]], variant: str) -> None:
    objects = rendered[variant]
    workload = next(o for o in objects if o["kind"] in ("Deployment", "StatefulSet"))
    exporter = container(workload)
    assert f"--web.config.file={CONFIG_DIR}/web.yml" in exporter["args"]
    pod = workload["spec"]["template"]["spec"]
    assert pod["securityContext"]["fsGroup"] == 65532
    sources = pod["volumes"][0]["projected"]["sources"]
    assert pod["volumes"][0]["projected"]["defaultMode"] == 0o440
    projected = {
        item["path"]: (kind, source["name"])
        for entry in sources
        for kind, source in entry.items()
        for item in source.get("items", [])
    }
    assert projected == {
        "web.yml": ("secret", f"{NAME}-web"),
        "tls.crt": ("secret", f"{NAME}-tls"),
        "tls.key": ("secret", f"{NAME}-tls"),
    }
    config_map = next(entry["configMap"]["name"] for entry in sources if "configMap" in entry)
    assert any(o["kind"] == "ConfigMap" and o["metadata"]["name"] == config_map for o in objects)
    # Basic auth covers /healthz and /readyz, so the probes check the port only.
    assert exporter["livenessProbe"]["tcpSocket"] == {"port": "metrics"}
    assert exporter["readinessProbe"]["tcpSocket"] == {"port": "metrics"}
    endpoint = only(objects, "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"]["ca"] == {"secret": {"name": f"{NAME}-tls", "key": "ca.crt"}}
    assert endpoint["basicAuth"] == {
        "username": {"name": f"{NAME}-scrape-auth", "key": "username"},
        "password": {"name": f"{NAME}-scrape-auth", "key": "password"},
    }
