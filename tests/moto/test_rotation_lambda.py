"""The `rotation_lambda` check judges the same secrets alike against moto and our aws-simulator.

tests/moto/test_lambda.py compares the raw GetFunctionConfiguration and
GetPolicy answers; this test goes one step further, to the verdict. It builds
rotation functions and the secrets they rotate in moto through the write API
(CreateFunction, AddPermission, CreateSecret, RotateSecret, CancelRotateSecret,
DeleteFunction), writes a simulator fleet from what moto answers (ListSecrets
for the secrets, GetFunctionConfiguration and GetPolicy for the functions), and
runs `check --output=json` against both. Per secret, the two reports must agree
on `rotation_type`, on whether `rotation_lambda` applies, on its verdict and
the failure kinds its reason names, and on the `rotation_lambda` entries of
`not_evaluated`; both reports are also held to the plan below, so a fault the
two servers share cannot pass.

How moto behaves, and what the test therefore builds or leaves out:
- RotateSecret invokes the rotation function (Docker-free: moto answers the
  invocation without running it). With a function that does not exist, or one
  in another account, RotateSecret fails with ResourceNotFoundException, yet
  moto has already stored the rotation: RotationEnabled true, the
  RotationLambdaARN and the rules, and an AWSPENDING version, with no
  LastRotatedDate. The test relies on that for the never-created and the
  cross-account functions and asserts the error, so a moto that changes either
  half shows here. A function that existed at RotateSecret and was deleted
  afterwards (DeleteFunction) is the other way to a missing function; the
  secret with rotation OFF is made that way too (RotateSecret, then
  CancelRotateSecret, which keeps the ARN and the rules, then DeleteFunction).
- moto's functions are always `Active` with `LastUpdateStatus` `Successful`,
  so the `not Active` and `last update failed` kinds of the check are
  simulator-only (tests/rotation_lambda.rs and simulator/tests/lambda.rs).
- moto keeps no OwningService, Type or ExternalSecretRotation* fields on a
  secret, so the `service` and `external` rotation types, which
  `rotation_lambda` skips, cannot be built here.
- The function in another account is named by ARN only and never created
  anywhere: the exporter leaves such a verdict unknown (`access_denied`)
  before any Lambda call, so there is nothing for either server to hold.
- Other checks are not compared here: test_parity.py compares them, and
  documents why moto and the simulator may differ on some of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from harness import AwsEndpoint, run_check, running_moto_server, running_simulator
from test_lambda import (
    ACCOUNT,
    REGION,
    SECRETS_MANAGER,
    SECRETS_MANAGER_SID,
    QuotingDumper,
    create_functions,
    function_arn,
    lambda_client,
    lambda_entry,
)

CHECK = "rotation_lambda"
OTHER_ACCOUNT = "210987654321"


@dataclass(frozen=True)
class PlannedFunction:
    name: str
    runtime: str
    # AddPermission for secretsmanager.amazonaws.com.
    secrets_manager_may_invoke: bool
    # DeleteFunction once every secret that names it has been rotated.
    deleted_after_rotation: bool = False


FUNCTIONS = (
    PlannedFunction("rotate-current", "python3.12", secrets_manager_may_invoke=True),
    PlannedFunction("rotate-python37", "python3.7", secrets_manager_may_invoke=True),
    PlannedFunction("rotate-unpermitted", "python3.12", secrets_manager_may_invoke=False),
    PlannedFunction(
        "rotate-deleted", "python3.12", secrets_manager_may_invoke=True, deleted_after_rotation=True
    ),
    PlannedFunction(
        "rotate-retired", "python3.12", secrets_manager_may_invoke=True, deleted_after_rotation=True
    ),
)
NEVER_CREATED = "rotate-never-created"
OTHER_ACCOUNT_ARN = f"arn:aws:lambda:{REGION}:{OTHER_ACCOUNT}:function:rotate-elsewhere"

# The kinds of failure a `rotation_lambda` reason names, and the words that name them.
DOES_NOT_EXIST = "does not exist"
DEPRECATED = "deprecated runtime"
NOT_INVOKABLE = "Secrets Manager may not invoke"
NOT_ACTIVE = "not Active"
UPDATE_FAILED = "last update failed"
NO_STATE = "no state"
REASON_WORDS = (
    (DOES_NOT_EXIST, " does not exist"),
    (DEPRECATED, " was deprecated by AWS on "),
    (NOT_INVOKABLE, "does not let secretsmanager.amazonaws.com invoke it"),
    (NOT_ACTIVE, ", not Active"),
    (UPDATE_FAILED, "its last update failed"),
    (NO_STATE, "it reports no state"),
)
COMPLIANT_WORDS = "is Active and Secrets Manager may invoke it"


@dataclass(frozen=True)
class PlannedSecret:
    name: str
    # The function RotateSecret names (a function ARN); None: rotation never configured.
    lambda_arn: str | None
    # CancelRotateSecret after RotateSecret: the ARN and the rules stay behind.
    cancelled: bool = False
    # What `check` must say: the report's rotation_type, then the verdict of
    # rotation_lambda: None when it does not apply, "unknown: <reason>" when
    # it applies but cannot be judged, else the set of failure kinds (empty:
    # compliant).
    rotation_type: str = "lambda"
    expected: frozenset[str] | str | None = None


COMPLIANT: frozenset[str] = frozenset()
SECRETS = (
    PlannedSecret("payments/db", function_arn("rotate-current"), expected=COMPLIANT),
    # A second secret on the same function.
    PlannedSecret("payments/api-key", function_arn("rotate-current"), expected=COMPLIANT),
    PlannedSecret("billing/db", function_arn("rotate-python37"), expected=frozenset({DEPRECATED})),
    PlannedSecret("search/admin", function_arn("rotate-unpermitted"), expected=frozenset({NOT_INVOKABLE})),
    PlannedSecret("legacy/deleted", function_arn("rotate-deleted"), expected=frozenset({DOES_NOT_EXIST})),
    PlannedSecret("legacy/never", function_arn(NEVER_CREATED), expected=frozenset({DOES_NOT_EXIST})),
    PlannedSecret("shared/elsewhere", OTHER_ACCOUNT_ARN, expected="unknown: access_denied"),
    # Rotation off: the function it still names is gone, but it is not run.
    PlannedSecret("legacy/cancelled", function_arn("rotate-retired"), cancelled=True),
    PlannedSecret("static/config", None, rotation_type="none"),
)
ROTATION_DAYS = 30


def client(endpoint: AwsEndpoint, service: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint.url,
        aws_access_key_id=endpoint.access_key_id,
        aws_secret_access_key=endpoint.secret_access_key,
    )


def build_in_moto(endpoint: AwsEndpoint) -> None:
    """Creates the plan through the write API, as an administrator would."""
    create_functions(
        endpoint,
        [
            (
                f.name,
                f.runtime,
                SECRETS_MANAGER if f.secrets_manager_may_invoke else None,
                SECRETS_MANAGER_SID,
            )
            for f in FUNCTIONS
        ],
    )

    created = {function_arn(function.name) for function in FUNCTIONS}
    secrets = client(endpoint, "secretsmanager")
    for secret in SECRETS:
        secrets.create_secret(Name=secret.name, SecretString=json.dumps({"password": "rotation-lambda"}))
        if secret.lambda_arn is None:
            continue
        rotate = {
            "SecretId": secret.name,
            "RotationLambdaARN": secret.lambda_arn,
            "RotationRules": {"AutomaticallyAfterDays": ROTATION_DAYS},
        }
        if secret.lambda_arn in created:
            secrets.rotate_secret(**rotate)
        else:
            # moto invokes the function, finds none, and says so, after
            # storing the rotation: the plan check below sees whether it did.
            with pytest.raises(ClientError) as refused:
                secrets.rotate_secret(**rotate)
            assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException", (
                secret.name,
                refused.value.response["Error"],
            )
        if secret.cancelled:
            secrets.cancel_rotate_secret(SecretId=secret.name)

    for function in FUNCTIONS:
        if function.deleted_after_rotation:
            lambda_client(endpoint).delete_function(FunctionName=function.name)


def listed_secrets(endpoint: AwsEndpoint) -> dict[str, dict[str, Any]]:
    listed: dict[str, dict[str, Any]] = {}
    for page in client(endpoint, "secretsmanager").get_paginator("list_secrets").paginate():
        for entry in page["SecretList"]:
            listed[entry["Name"]] = entry
    return listed


def fleet_from_answers(endpoint: AwsEndpoint) -> dict[str, Any]:
    """A simulator fleet holding what moto answers: its secrets, and the functions they name.

    The plan gives nothing but moto's endpoint; a function moto no longer has
    is left out, as an administrator's deleted function would be.
    """
    secrets: list[dict[str, Any]] = []
    named: list[str] = []
    for name, entry in listed_secrets(endpoint).items():
        secret: dict[str, Any] = {"name": name, "created": entry["CreatedDate"].isoformat()}
        lambda_arn = entry.get("RotationLambdaARN")
        if lambda_arn:
            rotation: dict[str, Any] = {
                # AWS says false where rotation was never configured; moto leaves it out.
                "enabled": bool(entry.get("RotationEnabled", False)),
                "lambda_arn": lambda_arn,
            }
            days = (entry.get("RotationRules") or {}).get("AutomaticallyAfterDays")
            if days is not None:
                rotation["automatically_after_days"] = days
            secret["rotation"] = rotation
            if lambda_arn not in named:
                named.append(lambda_arn)
        for field, key in (
            ("LastRotatedDate", "last_rotated"),
            ("LastChangedDate", "last_changed"),
            ("NextRotationDate", "next_rotation"),
        ):
            if entry.get(field) is not None:
                secret[key] = entry[field].isoformat()
        secret["versions"] = [
            {"id": version, "stages": stages}
            for version, stages in (entry.get("SecretVersionsToStages") or {}).items()
        ]
        secrets.append(secret)

    functions = lambda_client(endpoint)
    lambdas: list[dict[str, Any]] = []
    for lambda_arn in named:
        # Only the base account's functions: the fleet has no other account,
        # and moto holds none there.
        if f":{ACCOUNT}:function:" not in lambda_arn:
            continue
        entry = lambda_entry(functions, lambda_arn)
        if entry is not None:
            lambdas.append(entry)
    return {"base_account": ACCOUNT, "regions": [REGION], "secrets": secrets, "lambdas": lambdas}


def failure_kinds(reason: str) -> set[str]:
    """The failure kinds a non-compliant reason names; an unrecognised sentence is named as such."""
    kinds = {kind for kind, words in REASON_WORDS if words in reason}
    return kinds or {f"unrecognised reason: {reason}"}


def rotation_lambda_view(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per secret: rotation_type, and what `check` said of rotation_lambda."""
    view: dict[str, dict[str, Any]] = {}
    for secret in report["secrets"]:
        verdicts = [verdict for verdict in secret["checks"] if verdict["check"] == CHECK]
        unknown = [entry for entry in secret["not_evaluated"] if entry["check"] == CHECK]
        assert len(verdicts) + len(unknown) <= 1, f"{secret['name']}: {CHECK} judged twice: {secret}"
        said: frozenset[str] | str | None = None
        reason = None
        if verdicts:
            (verdict,) = verdicts
            reason = verdict["reason"]
            if verdict["compliant"]:
                recognised = COMPLIANT_WORDS in reason
                said = COMPLIANT if recognised else frozenset({f"unrecognised reason: {reason}"})
            else:
                said = frozenset(failure_kinds(reason))
        elif unknown:
            (entry,) = unknown
            said = f"unknown: {entry['reason']}"
            reason = json.dumps(entry, sort_keys=True)
        view[secret["name"]] = {"rotation_type": secret["rotation_type"], "verdict": said, "reason": reason}
    return view


def expected_from_plan() -> dict[str, dict[str, Any]]:
    return {
        secret.name: {"rotation_type": secret.rotation_type, "verdict": secret.expected} for secret in SECRETS
    }


def describe(verdict: frozenset[str] | str | None) -> str:
    if verdict is None:
        return "-"
    if isinstance(verdict, str):
        return verdict
    return "compliant" if not verdict else "NON-COMPLIANT: " + ", ".join(sorted(verdict))


@pytest.fixture(scope="module")
def rotation_moto_endpoint() -> Iterator[AwsEndpoint]:
    # A moto_server of its own, so these secrets and functions never meet another test's.
    with running_moto_server() as endpoint:
        build_in_moto(endpoint)
        yield endpoint


@pytest.fixture(scope="module")
def simulator_fleet(rotation_moto_endpoint: AwsEndpoint) -> dict[str, Any]:
    return fleet_from_answers(rotation_moto_endpoint)


@pytest.fixture(scope="module")
def rotation_simulator_endpoint(
    simulator_fleet: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AwsEndpoint]:
    fleet_file: Path = tmp_path_factory.mktemp("rotation-lambda") / "fleet.yaml"
    fleet_file.write_text(yaml.dump(simulator_fleet, Dumper=QuotingDumper, sort_keys=False))
    with running_simulator(fleet_file) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def exporter_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # CloudTrail stays off: moto has no LookupEvents.
    config = {
        "regions": [REGION],
        "accounts": [{"id": ACCOUNT}],
        "cloudtrail": {"enabled": False},
    }
    path = tmp_path_factory.mktemp("exporter") / "rotation-lambda.yaml"
    path.write_text(yaml.dump(config, Dumper=QuotingDumper, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def reports(
    rotation_moto_endpoint: AwsEndpoint, rotation_simulator_endpoint: AwsEndpoint, exporter_config: Path
) -> dict[str, dict[str, Any]]:
    # The cross-account secret's verdict is unknown: `check` exits 2.
    return {
        "moto": run_check(rotation_moto_endpoint, exporter_config, unevaluated_expected=True),
        "simulator": run_check(rotation_simulator_endpoint, exporter_config, unevaluated_expected=True),
    }


def test_moto_holds_the_planned_rotation(rotation_moto_endpoint: AwsEndpoint) -> None:
    """Each secret's rotation as RotateSecret and CancelRotateSecret left it; each function as planned.

    A RotateSecret that moto refused (the never-created and cross-account
    functions) must still have left the rotation on, or those secrets would
    test nothing.
    """
    listed = listed_secrets(rotation_moto_endpoint)
    held = {
        name: (entry.get("RotationEnabled", False), entry.get("RotationLambdaARN"))
        for name, entry in listed.items()
    }
    planned = {
        secret.name: (secret.lambda_arn is not None and not secret.cancelled, secret.lambda_arn)
        for secret in SECRETS
    }
    assert held == planned

    functions = lambda_client(rotation_moto_endpoint)
    present = {
        name: entry["runtime"]
        for name in (*(function.name for function in FUNCTIONS), NEVER_CREATED)
        if (entry := lambda_entry(functions, name)) is not None
    }
    assert present == {
        function.name: function.runtime for function in FUNCTIONS if not function.deleted_after_rotation
    }


def test_the_fleet_read_from_moto_holds_every_live_function(simulator_fleet: dict[str, Any]) -> None:
    """The functions moto still has, with their runtime and policy; the gone and foreign ones absent."""
    held = {entry["name"]: (entry["runtime"], entry["policy"]) for entry in simulator_fleet["lambdas"]}
    planned = {
        function.name: (function.runtime, {"allow_secretsmanager": function.secrets_manager_may_invoke})
        for function in FUNCTIONS
        if not function.deleted_after_rotation
    }
    assert held == planned
    assert {secret["name"] for secret in simulator_fleet["secrets"]} == {secret.name for secret in SECRETS}


@pytest.mark.parametrize("side", ["moto", "simulator"])
def test_the_target_is_up_and_every_secret_inventoried(side: str, reports: dict[str, dict[str, Any]]) -> None:
    report = reports[side]
    down = [target for target in report["targets"] if not target["up"]]
    assert not down, f"targets down against {side}: {down}"
    assert {secret["name"] for secret in report["secrets"]} == {secret.name for secret in SECRETS}


@pytest.mark.parametrize("side", ["moto", "simulator"])
def test_rotation_lambda_judges_as_planned(side: str, reports: dict[str, dict[str, Any]]) -> None:
    found = rotation_lambda_view(reports[side])
    departures = []
    for name, wanted in expected_from_plan().items():
        got = found.get(name)
        if got is None:
            departures.append(f"{name}: not in the report")
        elif (got["rotation_type"], got["verdict"]) != (wanted["rotation_type"], wanted["verdict"]):
            departures.append(
                f"{name}: planned {wanted['rotation_type']} {describe(wanted['verdict'])}, "
                f"{side} said {got['rotation_type']} {describe(got['verdict'])} ({got['reason']})"
            )
    assert not departures, f"against {side}, {CHECK} departs from the plan:\n" + "\n".join(departures)


def test_rotation_lambda_judges_alike_against_moto_and_the_simulator(
    reports: dict[str, dict[str, Any]],
) -> None:
    """Same rotation_type, same verdict, same failure kinds, and the same sentence, secret by secret."""
    moto_view = rotation_lambda_view(reports["moto"])
    simulator_view = rotation_lambda_view(reports["simulator"])
    assert set(moto_view) == set(simulator_view)
    differences = [
        f"{name}:\n  moto:      {moto_view[name]}\n  simulator: {simulator_view[name]}"
        for name in sorted(moto_view)
        if moto_view[name] != simulator_view[name]
    ]
    assert not differences, f"{CHECK} differs between moto and the simulator:\n" + "\n".join(differences)


def test_the_plan_gives_every_outcome_the_check_can_have_with_moto() -> None:
    """Compliant, each failure kind moto can show, unknown and not applicable, each at least once."""
    outcomes: set[str] = set()
    for secret in SECRETS:
        if secret.expected is None:
            outcomes.add("not applicable")
        elif isinstance(secret.expected, str):
            outcomes.add(secret.expected)
        elif not secret.expected:
            outcomes.add("compliant")
        else:
            outcomes.update(secret.expected)
    assert outcomes >= {
        "compliant",
        DOES_NOT_EXIST,
        DEPRECATED,
        NOT_INVOKABLE,
        "unknown: access_denied",
        "not applicable",
    }
