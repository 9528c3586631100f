"""Helpers of the deployment tests: rendering the kustomizations and finding the binaries."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = REPO_ROOT / "deploy" / "kubernetes"

# The simulator and binary helpers of the moto parity test serve here too.
sys.path.insert(0, str(REPO_ROOT / "tests" / "moto"))


def required_tool(name: str) -> str:
    """A tool the checks cannot do without: missing, the test fails (a skip would read as a pass)."""
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not on PATH; the deployment tests need it")
    return found


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize DIR`, parsed: the objects `kubectl apply -k DIR` would send."""
    rendered = subprocess.run(
        [required_tool("kubectl"), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if rendered.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory} failed:\n{rendered.stderr}")
    return [document for document in yaml.safe_load_all(rendered.stdout) if document]


def only(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["exporter"]
    return containers[0]
