"""Starting `serve` as a pod would, and reading what it serves."""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

SERVE_TIMEOUT_SECONDS = 90.0
SERIES = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?P<labels>.*)\})? (?P<value>\S+)$")
LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


def simulated_fleet(accounts: list[str], secrets_per_account: int) -> str:
    """A simulator fleet file: the accounts, each with a few secrets, in us-east-1."""
    return yaml.safe_dump(
        {
            "regions": ["us-east-1"],
            "accounts": [{"id": account} for account in accounts],
            "secrets": [
                {"account": account, "name": f"app-{n}/db-password", "tags": {"team": "platform"}}
                for account in accounts
                for n in range(secrets_per_account)
            ],
        }
    )


def config_for_simulator(config_text: str, accounts: list[str]) -> str:
    """The rendered config with the simulated accounts in place of the example's."""
    config = yaml.safe_load(config_text)
    config.pop("discovery", None)
    config["regions"] = ["us-east-1"]
    config["accounts"] = [
        {"id": account, "role_arn": f"arn:aws:iam::{account}:role/secrets-rotation-reader"}
        for account in accounts
    ]
    return yaml.safe_dump(config)


def expand(argument: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion of $(VAR) in a container's args; $$ escapes, unknown names stay."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
        lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
        argument,
    )


def wait_for(url: str, process: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + SERVE_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            pytest.fail(f"the exporter exited {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer 200 within {SERVE_TIMEOUT_SECONDS:.0f}s:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def series(exposition: str, name: str) -> list[dict[str, str]]:
    """The label sets of every sample of `name`, the value under `__value__`."""
    found = []
    for line in exposition.splitlines():
        match = SERIES.match(line)
        if match and match.group("name") == name:
            labels = {m.group("key"): m.group("value") for m in LABEL.finditer(match.group("labels") or "")}
            found.append({**labels, "__value__": match.group("value")})
    return found


def log_file() -> Path:
    handle = tempfile.NamedTemporaryFile(prefix="exporter-", suffix=".log", delete=False)
    handle.close()
    return Path(handle.name)
