"""The exporter gives the same verdicts against moto and against our aws-simulator.

moto is a third-party AWS emulator; our simulator is what the demo, the
integration tests and the benchmarks run against. Both are loaded with
tests/fixtures/parity-fleet.yaml and `check --output=json` must judge every
secret alike, so a simulator that drifts from AWS behaviour moto reproduces
(omitted fields, stage handling, AssumeRole, deletion) shows up here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fleet_in_moto import AwsAccounts, Fleet, MotoFleetBuilder, differences_from_fleet, load_fleet
from harness import FLEET_FILE, AwsEndpoint, run_check

ASSUMED_ACCOUNT = "222222222222"

# Checks both sides model: they must apply to the same secrets and agree.
COMPARED_CHECKS = (
    "rotation_enabled",
    "rotation_interval",
    "kms_customer_managed",
    "required_tags",
    "rotation_age",
    "unused",
)
# Checks that must show both verdicts somewhere in the fleet, or the
# comparison proves little.
MIXED_CHECKS = ("rotation_enabled", "rotation_interval", "kms_customer_managed", "required_tags")

NOT_APPLICABLE = "-"


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    return load_fleet(FLEET_FILE)


@pytest.fixture(scope="session")
def moto_accounts(moto_endpoint: AwsEndpoint, fleet: Fleet) -> AwsAccounts:
    builder = MotoFleetBuilder(moto_endpoint.url, fleet)
    builder.build()
    return builder.accounts


@pytest.fixture(scope="session")
def simulator_accounts(simulator_endpoint: AwsEndpoint, fleet: Fleet) -> AwsAccounts:
    base_credentials = {
        "aws_access_key_id": simulator_endpoint.access_key_id,
        "aws_secret_access_key": simulator_endpoint.secret_access_key,
    }
    return AwsAccounts(simulator_endpoint.url, fleet, base_credentials)


@pytest.fixture(scope="session")
def exporter_config(tmp_path_factory: pytest.TempPathFactory, fleet: Fleet) -> Path:
    accounts = []
    for account in fleet.regions_by_account:
        accounts.append(f'  - id: "{account}"')
        if account != fleet.base_account:
            accounts.append(f"    role_arn: arn:aws:iam::{account}:role/secrets-rotation-reader")
    regions = sorted({region for regions in fleet.regions_by_account.values() for region in regions})
    config = tmp_path_factory.mktemp("exporter") / "parity.yaml"
    # CloudTrail stays off: moto has no LookupEvents.
    config.write_text(
        "\n".join(
            [
                f"regions: [{', '.join(regions)}]",
                "accounts:",
                *accounts,
                "policy:",
                "  max_rotation_interval: 30d",
                "  require_customer_managed_key: true",
                "  required_tags: []",
                "cloudtrail:",
                "  enabled: false",
                "",
            ]
        )
    )
    return config


@pytest.fixture(scope="session")
def moto_report(
    moto_accounts: AwsAccounts, moto_endpoint: AwsEndpoint, exporter_config: Path
) -> dict[str, Any]:
    return run_check(moto_endpoint, exporter_config)


@pytest.fixture(scope="session")
def simulator_report(simulator_endpoint: AwsEndpoint, exporter_config: Path) -> dict[str, Any]:
    return run_check(simulator_endpoint, exporter_config)


# The API answers are checked on both sides before any verdict is: a verdict
# difference is easier to read once both servers are known to hold the fleet.
@pytest.mark.parametrize("side", ["moto", "simulator"])
def test_server_holds_what_the_fleet_file_describes(
    side: str, request: pytest.FixtureRequest, fleet: Fleet
) -> None:
    accounts: AwsAccounts = request.getfixturevalue(f"{side}_accounts")
    problems = differences_from_fleet(fleet, accounts, side, datetime.now(UTC))
    assert not problems, f"{side} and the fleet file disagree:\n" + "\n".join(problems)


@pytest.mark.parametrize("side", ["moto", "simulator"])
def test_assumed_role_credentials_reach_only_their_account(
    side: str, request: pytest.FixtureRequest, fleet: Fleet
) -> None:
    accounts: AwsAccounts = request.getfixturevalue(f"{side}_accounts")
    sts = accounts.client("sts", ASSUMED_ACCOUNT, "us-east-1")
    assert sts.get_caller_identity()["Account"] == ASSUMED_ACCOUNT

    for region in fleet.regions_by_account[ASSUMED_ACCOUNT]:
        listed = accounts.list_secrets(ASSUMED_ACCOUNT, region)
        expected = {
            secret.name
            for secret in fleet.secrets
            if (secret.account, secret.region) == (ASSUMED_ACCOUNT, region)
        }
        assert {entry["Name"] for entry in listed} == expected
        assert all(f":{ASSUMED_ACCOUNT}:" in entry["ARN"] for entry in listed)


@pytest.mark.parametrize("side", ["moto", "simulator"])
def test_every_target_is_up_and_every_secret_inventoried(
    side: str, request: pytest.FixtureRequest, fleet: Fleet
) -> None:
    report = request.getfixturevalue(f"{side}_report")
    down = [target for target in report["targets"] if not target["up"]]
    assert not down, f"targets down against {side}: {down}"
    assert {(t["account_id"], t["region"]) for t in report["targets"]} == fleet.targets

    inventoried = {(s["account_id"], s["region"], s["name"]) for s in report["secrets"]}
    assert inventoried == {secret.key for secret in fleet.secrets}
    assert report["summary"]["targets_down"] == 0
    assert report["summary"]["secrets"] == len(fleet.secrets)


def test_verdicts_match_between_moto_and_the_simulator(
    moto_report: dict[str, Any], simulator_report: dict[str, Any]
) -> None:
    moto_view = verdicts_by_secret(moto_report)
    simulator_view = verdicts_by_secret(simulator_report)
    differences = compare(moto_view, simulator_view)
    assert not differences, "moto and the simulator disagree:\n" + format_table(
        ["account", "region", "secret", "what", "moto", "simulator"], differences
    )


def test_the_fleet_gives_both_verdicts_for_each_compared_check(
    moto_report: dict[str, Any], simulator_report: dict[str, Any]
) -> None:
    for side, report in (("moto", moto_report), ("simulator", simulator_report)):
        seen: dict[str, set[bool]] = {check: set() for check in MIXED_CHECKS}
        for secret in report["secrets"]:
            for verdict in secret["checks"]:
                if verdict["check"] in seen:
                    seen[verdict["check"]].add(verdict["compliant"])
        one_sided = {check: values for check, values in seen.items() if values != {True, False}}
        assert not one_sided, f"against {side}, these checks never came out both ways: {one_sided}"
        assert any(secret["scheduled_for_deletion"] for secret in report["secrets"]), side
        assert any(secret["exempt"] for secret in report["secrets"]), side


def verdicts_by_secret(report: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    view: dict[tuple[str, str, str], dict[str, Any]] = {}
    for secret in report["secrets"]:
        view[(secret["account_id"], secret["region"], secret["name"])] = {
            "exempt": secret["exempt"],
            "scheduled_for_deletion": secret["scheduled_for_deletion"],
            "checks": {verdict["check"]: verdict["compliant"] for verdict in secret["checks"]},
        }
    return view


def compare(
    moto_view: dict[tuple, dict[str, Any]], simulator_view: dict[tuple, dict[str, Any]]
) -> list[list[str]]:
    """One row per disagreement: (account, region, secret, what, moto, simulator)."""
    rows: list[list[str]] = []
    for key in sorted(set(moto_view) | set(simulator_view)):
        moto_secret, simulator_secret = moto_view.get(key), simulator_view.get(key)
        if moto_secret is None or simulator_secret is None:
            rows.append(
                [*key, "inventoried", str(moto_secret is not None), str(simulator_secret is not None)]
            )
            continue
        for flag in ("exempt", "scheduled_for_deletion"):
            if moto_secret[flag] != simulator_secret[flag]:
                rows.append([*key, flag, str(moto_secret[flag]), str(simulator_secret[flag])])
        moto_checks, simulator_checks = moto_secret["checks"], simulator_secret["checks"]
        # Checks outside the list count only where both sides judged them.
        shared_extra = (set(moto_checks) & set(simulator_checks)) - set(COMPARED_CHECKS)
        for check in [*COMPARED_CHECKS, *sorted(shared_extra)]:
            moto_verdict = describe(moto_checks.get(check))
            simulator_verdict = describe(simulator_checks.get(check))
            if moto_verdict != simulator_verdict:
                rows.append([*key, check, moto_verdict, simulator_verdict])
    return rows


def describe(compliant: bool | None) -> str:
    if compliant is None:
        return NOT_APPLICABLE
    return "compliant" if compliant else "NON-COMPLIANT"


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(row[column])) for row in [header, *rows]) for column in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
