"""`sources.ssm_parameters` judges the same parameters alike against moto and our aws-simulator.

tests/moto/test_ssm.py compares the raw DescribeParameters and
ListTagsForResource answers; this test goes one step further, to the
verdict. It creates KMS keys and parameters in moto through the write API
(CreateKey, PutParameter with `KeyId`, `Tier`, `Policies` and `Tags`), writes
a simulator fleet from what moto answers, and runs `check --output=json`
against both with the same config: every type, tags read, `required_tags:
[team]`, a `kms_key_arns` allowlist of one key, `max_age: 30d` with an
override of `1s` for `/stale/*` (moto's LastModifiedDate is the moment
PutParameter ran and cannot be backdated, so only a tiny threshold makes a
parameter old), once without and once with `require_parameter_expiration`.
Per parameter, the reports must agree on each check's verdict (which checks
apply, and compliant or not) and on `not_evaluated`, and the summaries must
agree; both reports are also held to the plan below. Every check has a
passing and a failing parameter on both sides, except where moto cannot
show one (next paragraph).

What moto gets wrong here, and how the test accounts for it:
- moto answers each policy's `PolicyType` with the policy's text (a Python
  repr, `{'Type': 'Expiration', ...}`) instead of `Expiration`, so the
  exporter finds no Expiration policy on a parameter that has one, and
  `parameter_expiration` fails against moto for every parameter. The
  simulator, whose fleet carries moto's policies, says `Expiration` and the
  check passes, as it would against AWS. The test pins that: against moto,
  the parameters with an Expiration policy fail `parameter_expiration`
  with "no Expiration policy", and the comparison leaves out only those
  verdicts (and, for that run, the summary's non-compliant count they
  move). With `require_parameter_expiration` off, everything is compared.
- The exporter's requests go through a recording proxy (harness.py) on both
  sides: the simulator counts requests only inside its process and the
  binary does not expose the counters, so the proxy is what shows that no
  GetParameter, GetParameters, GetParametersByPath or GetParameterHistory
  was sent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import (
    AwsEndpoint,
    RecordingProxy,
    recording_proxy,
    run_check,
    running_moto_server,
    running_simulator,
)
from test_lambda import ACCOUNT, REGION, QuotingDumper
from test_ssm import client, fleet_from_answers, write_fleet

AGE = "parameter_age"
KMS = "kms_customer_managed"
EXPIRATION = "parameter_expiration"
TAGS = "required_tags"
CHECKS = (AGE, KMS, EXPIRATION, TAGS)
VALUE_READS = ("GetParameter", "GetParameters", "GetParametersByPath", "GetParameterHistory")
EXPIRES = "2030-01-01T00:00:00.000Z"
STALE_MAX_AGE_SECONDS = 1
# The keys PutParameter is given: the allowed one by id or ARN, the other by ARN.
ALLOWED_KEY_ID, ALLOWED_KEY_ARN, OTHER_KEY_ARN = "allowed-id", "allowed-arn", "other-arn"


@dataclass(frozen=True)
class PlannedParameter:
    name: str
    type: str = "SecureString"
    # None: no KeyId (the AWS managed key); one of the key references above, or an alias verbatim.
    key: str | None = None
    expires: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    # What `check` must say, per check that applies: compliant or not. `parameter_expiration`
    # is added by `expected`.
    verdicts: dict[str, bool] = field(default_factory=dict)


TEAM = {"team": "payments"}
PARAMETERS = (
    # Created first, so it is the oldest when `check` runs.
    PlannedParameter(
        "/stale/session-secret", key=ALLOWED_KEY_ID, tags=TEAM, verdicts={AGE: False, KMS: True, TAGS: True}
    ),
    PlannedParameter(
        "/verdicts/payments/signing-key",
        key=ALLOWED_KEY_ID,
        expires=True,
        tags=TEAM,
        verdicts={AGE: True, KMS: True, TAGS: True},
    ),
    PlannedParameter("/verdicts/payments/db-password", verdicts={AGE: True, KMS: False, TAGS: False}),
    PlannedParameter(
        "/verdicts/payments/legacy-key",
        key="alias/aws/ssm",
        tags=TEAM,
        verdicts={AGE: True, KMS: False, TAGS: True},
    ),
    PlannedParameter(
        "/verdicts/billing/api-key",
        key=OTHER_KEY_ARN,
        tags=TEAM,
        verdicts={AGE: True, KMS: False, TAGS: True},
    ),
    PlannedParameter(
        "/verdicts/billing/token",
        key=ALLOWED_KEY_ARN,
        expires=True,
        verdicts={AGE: True, KMS: True, TAGS: False},
    ),
    PlannedParameter("/verdicts/config/endpoint", type="String", tags=TEAM, verdicts={AGE: True, TAGS: True}),
    PlannedParameter("/verdicts/config/hosts", type="StringList", verdicts={AGE: True, TAGS: False}),
)


def expected(parameter: PlannedParameter, *, expiration_required: bool, side: str) -> dict[str, bool]:
    verdicts = dict(parameter.verdicts)
    if expiration_required:
        # moto's PolicyType hides the Expiration policy (module docstring).
        verdicts[EXPIRATION] = parameter.expires and side != "moto"
    return verdicts


def build_in_moto(endpoint: AwsEndpoint) -> dict[str, str]:
    """Creates the plan through the write API; the allowed key's ARN, for `kms_key_arns`."""
    kms = client(endpoint, "kms")
    allowed = kms.create_key(Description="allowed parameter key")["KeyMetadata"]
    other = kms.create_key(Description="another parameter key")["KeyMetadata"]
    keys = {ALLOWED_KEY_ID: allowed["KeyId"], ALLOWED_KEY_ARN: allowed["Arn"], OTHER_KEY_ARN: other["Arn"]}
    ssm = client(endpoint)
    for parameter in PARAMETERS:
        request: dict[str, Any] = {"Name": parameter.name, "Value": "never read", "Type": parameter.type}
        if parameter.key is not None:
            request["KeyId"] = keys.get(parameter.key, parameter.key)
        if parameter.expires:
            request["Tier"] = "Advanced"
            request["Policies"] = (
                f'[{{"Type":"Expiration","Version":"1.0","Attributes":{{"Timestamp":"{EXPIRES}"}}}}]'
            )
        if parameter.tags:
            request["Tags"] = [{"Key": k, "Value": v} for k, v in parameter.tags.items()]
        ssm.put_parameter(**request)
    return {"allowed_key_arn": allowed["Arn"]}


def config(directory: Path, allowed_key_arn: str, *, expiration_required: bool) -> Path:
    document = {
        "regions": [REGION],
        "accounts": [{"id": ACCOUNT}],
        # CloudTrail stays off: moto has no LookupEvents.
        "cloudtrail": {"enabled": False},
        "sources": {
            "ssm_parameters": {
                "enabled": True,
                "types": ["SecureString", "String", "StringList"],
                "tags": True,
            }
        },
        "policy": {
            "max_age": "30d",
            "require_customer_managed_key": True,
            "kms_key_arns": [allowed_key_arn],
            "required_tags": ["team"],
            "require_parameter_expiration": expiration_required,
            "overrides": [{"match": {"name": "/stale/*"}, "max_age": f"{STALE_MAX_AGE_SECONDS}s"}],
        },
    }
    path = directory / f"ssm-expiration-{'required' if expiration_required else 'off'}.yaml"
    path.write_text(yaml.dump(document, Dumper=QuotingDumper, sort_keys=False))
    return path


def verdicts_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per parameter: each check's verdict, and what was not evaluated."""
    view: dict[str, dict[str, Any]] = {}
    for row in report["parameters"]:
        checks = {verdict["check"]: verdict["compliant"] for verdict in row["checks"]}
        assert len(checks) == len(row["checks"]), f"{row['name']}: a check judged twice: {row}"
        view[row["name"]] = {
            "checks": checks,
            "not_evaluated": sorted(entry["check"] for entry in row["not_evaluated"]),
            "compliant": row["compliant"],
        }
    return view


def planned_summary(*, expiration_required: bool, side: str) -> dict[str, int]:
    noncompliant = sum(
        1
        for parameter in PARAMETERS
        if not all(expected(parameter, expiration_required=expiration_required, side=side).values())
    )
    return {
        "parameters": len(PARAMETERS),
        "noncompliant_parameters": noncompliant,
        "unevaluated_parameters": 0,
    }


@dataclass
class Run:
    report: dict[str, Any]
    operations: dict[str, int]


@pytest.fixture(scope="module")
def ssm_moto() -> Iterator[tuple[AwsEndpoint, dict[str, str]]]:
    # A moto_server of its own, so these parameters never meet another test's.
    with running_moto_server() as endpoint:
        yield endpoint, build_in_moto(endpoint)


@pytest.fixture(scope="module")
def simulator_fleet(ssm_moto: tuple[AwsEndpoint, dict[str, str]]) -> dict[str, Any]:
    return fleet_from_answers(client(ssm_moto[0]))


@pytest.fixture(scope="module")
def runs(
    ssm_moto: tuple[AwsEndpoint, dict[str, str]],
    simulator_fleet: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[str, bool], Run]:
    """`check` against each side with each config, all four at once: the exporter paces SSM
    at 2 requests a second, so the runs mostly wait."""
    moto, keys = ssm_moto
    directory = tmp_path_factory.mktemp("ssm-parameters")
    configs = {
        required: config(directory, keys["allowed_key_arn"], expiration_required=required)
        for required in (False, True)
    }
    # The stale parameter must be older than its max_age when `check` looks.
    stale = min(datetime.fromisoformat(entry["last_modified"]) for entry in simulator_fleet["parameters"])
    wait = STALE_MAX_AGE_SECONDS + 1 - (datetime.now(UTC) - stale).total_seconds()
    if wait > 0:
        time.sleep(wait)
    with running_simulator(write_fleet(simulator_fleet, directory)) as simulator:
        proxies: dict[str, RecordingProxy] = {}
        with recording_proxy(moto) as proxies["moto"], recording_proxy(simulator) as proxies["simulator"]:
            with ThreadPoolExecutor(max_workers=4) as pool:
                futures = {
                    (side, required): pool.submit(run_check, proxies[side].endpoint, configs[required])
                    for side in ("moto", "simulator")
                    for required in (False, True)
                }
                reports = {key: future.result() for key, future in futures.items()}
            return {
                (side, required): Run(report=report, operations=dict(proxies[side].operations))
                for (side, required), report in reports.items()
            }


def test_the_fleet_read_from_moto_holds_every_planned_parameter(simulator_fleet: dict[str, Any]) -> None:
    held = {
        entry["name"]: (
            entry["type"],
            entry.get("tags", {}),
            [policy["type"] for policy in entry.get("policies", [])],
        )
        for entry in simulator_fleet["parameters"]
    }
    planned = {
        parameter.name: (parameter.type, parameter.tags, ["Expiration"] if parameter.expires else [])
        for parameter in PARAMETERS
    }
    assert held == planned


@pytest.mark.parametrize("expiration_required", [False, True], ids=["expiration-off", "expiration-required"])
@pytest.mark.parametrize("side", ["moto", "simulator"])
def test_every_parameter_is_judged_as_planned(
    side: str, expiration_required: bool, runs: dict[tuple[str, bool], Run]
) -> None:
    report = runs[(side, expiration_required)].report
    down = [target for target in report["targets"] if not target["up"]]
    assert not down, f"targets down against {side}: {down}"
    found = verdicts_of(report)
    departures = []
    for parameter in PARAMETERS:
        wanted = expected(parameter, expiration_required=expiration_required, side=side)
        got = found.get(parameter.name)
        if got is None:
            departures.append(f"{parameter.name}: not in the report")
        elif got["checks"] != wanted or got["not_evaluated"]:
            departures.append(f"{parameter.name}: planned {wanted}, {side} said {got}")
    unplanned = sorted(set(found) - {parameter.name for parameter in PARAMETERS})
    if unplanned:
        departures.append(f"not planned: {unplanned}")
    assert not departures, f"against {side}, the verdicts depart from the plan:\n" + "\n".join(departures)
    summary = planned_summary(expiration_required=expiration_required, side=side)
    assert report["summary"]["parameters"] == summary


def test_moto_hides_the_expiration_policy_behind_its_policy_type(runs: dict[tuple[str, bool], Run]) -> None:
    """The one difference left out of the comparison, pinned so a moto that fixes it shows."""
    found = {row["name"]: row for row in runs[("moto", True)].report["parameters"]}
    for parameter in PARAMETERS:
        if parameter.expires:
            (verdict,) = [v for v in found[parameter.name]["checks"] if v["check"] == EXPIRATION]
            assert verdict["reason"] == "no Expiration policy on this Advanced parameter", verdict


@pytest.mark.parametrize("expiration_required", [False, True], ids=["expiration-off", "expiration-required"])
def test_moto_and_the_simulator_give_the_same_verdicts(
    expiration_required: bool, runs: dict[tuple[str, bool], Run]
) -> None:
    """Same checks, same verdicts, same not_evaluated, same summary: all but moto's misread."""
    moto = verdicts_of(runs[("moto", expiration_required)].report)
    simulator = verdicts_of(runs[("simulator", expiration_required)].report)
    misread = {parameter.name for parameter in PARAMETERS if parameter.expires and expiration_required}
    differences = []
    for name in sorted(set(moto) | set(simulator)):
        ours, theirs = simulator.get(name), moto.get(name)
        if name in misread and ours and theirs:
            ours = {**ours, "checks": {k: v for k, v in ours["checks"].items() if k != EXPIRATION}}
            theirs = {**theirs, "checks": {k: v for k, v in theirs["checks"].items() if k != EXPIRATION}}
            ours.pop("compliant")
            theirs.pop("compliant")
        if ours != theirs:
            differences.append(f"{name}:\n  moto:      {theirs}\n  simulator: {ours}")
    assert not differences, "the verdicts differ between moto and the simulator:\n" + "\n".join(differences)
    moto_summary = dict(runs[("moto", expiration_required)].report["summary"]["parameters"])
    simulator_summary = dict(runs[("simulator", expiration_required)].report["summary"]["parameters"])
    if misread:
        moto_summary.pop("noncompliant_parameters")
        simulator_summary.pop("noncompliant_parameters")
    assert moto_summary == simulator_summary


def test_every_check_passes_somewhere_and_fails_somewhere() -> None:
    """On both sides, so the comparison cannot pass by judging everything alike."""
    for side in ("moto", "simulator"):
        outcomes: dict[str, set[bool]] = {check: set() for check in CHECKS}
        for parameter in PARAMETERS:
            for check, compliant in expected(parameter, expiration_required=True, side=side).items():
                outcomes[check].add(compliant)
        # moto cannot show a passing parameter_expiration (module docstring).
        wanted = {check: {True, False} for check in CHECKS}
        if side == "moto":
            wanted[EXPIRATION] = {False}
        assert outcomes == wanted, side


@pytest.mark.parametrize("side", ["moto", "simulator"])
def test_no_parameter_value_is_read(side: str, runs: dict[tuple[str, bool], Run]) -> None:
    """Only DescribeParameters and ListTagsForResource reach SSM: the exporter never asks for a value."""
    for required in (False, True):
        operations = runs[(side, required)].operations
        ssm = {operation for operation in operations if operation.startswith("AmazonSSM.")}
        assert ssm == {"AmazonSSM.DescribeParameters", "AmazonSSM.ListTagsForResource"}, operations
        reads = {operation: operations.get(f"AmazonSSM.{operation}", 0) for operation in VALUE_READS}
        assert not any(reads.values()), reads
