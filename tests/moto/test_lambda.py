"""Lambda's GetFunctionConfiguration and GetPolicy answer the same in moto as in our aws-simulator.

A check of rotation functions reads a function's `Runtime` (a deprecated one
no longer gets security updates), its `State` and `LastUpdateStatus` (only an `Active`
function whose last update took can rotate), and its resource policy (Secrets
Manager must be allowed to invoke it); a function that is gone, or that has no
policy, is told by the error code. The simulator answers those reads for every
test we write ourselves, so here moto, built through the real write API
(CreateRole, CreateFunction, AddPermission), is the second opinion.

The simulator's fleet is derived from what moto answers, not from the plan
below, so the comparison tests the simulator's answers against moto's; what
the plan asks for is also checked on both sides, so a fact both servers got
wrong alike cannot pass.

What moto does not model, and the test therefore leaves out:
- A qualifier inside the name (`rotate:$LATEST`, also in a full ARN): moto's
  URL routing answers a bare HTML 404 for a `$` in the path. The qualifier is
  passed as `Qualifier=$LATEST` instead, and `name:1` (no `$`) is compared.
- A partial ARN (`123456789012:function:rotate`): moto answers HTTP 500.
- `State` other than `Active` and `LastUpdateStatus` other than `Successful`,
  with their reasons: moto's functions are created `Active` at once and never
  fail an update. The simulator-only tests in simulator/tests/lambda.rs cover
  them.
- `RevisionId` and `LoggingConfig` in GetFunctionConfiguration: moto leaves
  them out (AWS sends both); GetPolicy's `RevisionId` is random on both sides.
- `LastModified`'s spelling: moto writes `...43.729799000Z`, AWS (and the
  simulator) `...43.729+0000`; only the instant, to the millisecond, is compared.
- `Handler`, `CodeSize` and `CodeSha256`: the fleet file does not describe
  code, and the simulator derives them; a check of rotation functions needs
  none of them.
- `Layers`: moto sends an empty list, AWS (and the simulator) leave it out.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import AwsEndpoint, running_moto_server, running_simulator

REGION = "us-east-1"
# moto's default account, the one any credentials belong to; the fleet file
# makes it the simulator's base account too.
ACCOUNT = "123456789012"
ROLE_NAME = "secrets-rotation-function"
SECRETS_MANAGER = "secretsmanager.amazonaws.com"
# The statement id `aws lambda add-permission` is given for the rotation
# function; the simulator's `allow_secretsmanager` policy carries the same Sid.
SECRETS_MANAGER_SID = "SecretsManagerAccess"
INVOKE = "lambda:InvokeFunction"
LATEST = "$LATEST"


@dataclass(frozen=True)
class PlannedFunction:
    name: str
    runtime: str
    # The service principal AddPermission grants lambda:InvokeFunction to, and
    # the statement id; None: AddPermission is never called, so no policy.
    invoked_by: str | None = None
    statement_id: str = SECRETS_MANAGER_SID


# A current and two deprecated runtimes (moto accepts them all at
# CreateFunction, as AWS still shows them on functions created before the
# deprecation), one function without any resource policy and one whose policy
# lets another service, not Secrets Manager, invoke it.
FUNCTIONS = (
    PlannedFunction("rotate-current", "python3.12", invoked_by=SECRETS_MANAGER),
    PlannedFunction("rotate-python37", "python3.7", invoked_by=SECRETS_MANAGER),
    PlannedFunction("rotate-node12", "nodejs12.x"),
    PlannedFunction(
        "rotate-by-events", "python3.12", invoked_by="events.amazonaws.com", statement_id="events"
    ),
)
# Never created: both calls must say ResourceNotFoundException.
MISSING = "rotate-never-created"
NAMES = (*(function.name for function in FUNCTIONS), MISSING)


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def lambda_client(endpoint: AwsEndpoint) -> Any:
    return boto3.client(
        "lambda",
        region_name=REGION,
        endpoint_url=endpoint.url,
        aws_access_key_id=endpoint.access_key_id,
        aws_secret_access_key=endpoint.secret_access_key,
        # One request per call: an error is the server's answer, not a retry's.
        config=Config(retries={"total_max_attempts": 1}),
    )


def create_functions(
    endpoint: AwsEndpoint, functions: list[tuple[str, str, str | None, str]]
) -> None:
    """Creates each (name, runtime, principal allowed to invoke or None, statement id) through
    the write API, as an administrator would: a role for the functions, a zip, the function,
    and its permission when one is given (none: no resource policy at all)."""
    iam = boto3.client(
        "iam",
        region_name=REGION,
        endpoint_url=endpoint.url,
        aws_access_key_id=endpoint.access_key_id,
        aws_secret_access_key=endpoint.secret_access_key,
    )
    role = iam.create_role(
        RoleName=ROLE_NAME,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("rotate.py", "def handler(event, context):\n    return event\n")
    client = lambda_client(endpoint)
    for name, runtime, invoked_by, statement_id in functions:
        client.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=role,
            Handler="rotate.handler",
            Code={"ZipFile": package.getvalue()},
        )
        if invoked_by:
            client.add_permission(
                FunctionName=name,
                StatementId=statement_id,
                Action=INVOKE,
                Principal=invoked_by,
            )


def build_in_moto(endpoint: AwsEndpoint) -> None:
    """Creates the plan through the write API, as an administrator would."""
    create_functions(
        endpoint,
        [(f.name, f.runtime, f.invoked_by, f.statement_id) for f in FUNCTIONS],
    )


def is_allow_secrets_manager(policy: dict[str, Any], arn: str) -> bool:
    """Whether a policy is the one the simulator spells as `allow_secretsmanager: true`."""
    return policy.get("Version") == "2012-10-17" and policy.get("Statement") == [
        {
            "Sid": SECRETS_MANAGER_SID,
            "Effect": "Allow",
            "Principal": {"Service": SECRETS_MANAGER},
            "Action": INVOKE,
            "Resource": arn,
        }
    ]


def fleet_from_answers(client: Any) -> dict[str, Any]:
    """A simulator fleet holding the functions a server answers for, read as the exporter reads.

    The plan gives only the names to ask for; everything else is the server's answer.
    """
    lambdas = [entry for entry in (lambda_entry(client, name) for name in NAMES) if entry is not None]
    return {"base_account": ACCOUNT, "regions": [REGION], "lambdas": lambdas}


def lambda_entry(client: Any, name: str) -> dict[str, Any] | None:
    """A fleet file's `lambdas:` entry for one function, from a server's answers; None if it is gone."""
    try:
        configuration = client.get_function_configuration(FunctionName=name)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise
    entry: dict[str, Any] = {
        "name": configuration["FunctionName"],
        "runtime": configuration["Runtime"],
        "state": configuration["State"],
        "last_update_status": configuration["LastUpdateStatus"],
        "role": configuration["Role"],
        "last_modified": configuration["LastModified"],
    }
    for field, key in (
        ("StateReason", "state_reason"),
        ("StateReasonCode", "state_reason_code"),
        ("LastUpdateStatusReason", "last_update_status_reason"),
        ("LastUpdateStatusReasonCode", "last_update_status_reason_code"),
    ):
        if field in configuration:
            entry[key] = configuration[field]
    try:
        text = client.get_policy(FunctionName=name)["Policy"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        entry["policy"] = {"allow_secretsmanager": False}
    else:
        # The policy AddPermission leaves for Secrets Manager is the
        # simulator's own `allow_secretsmanager`, so the simulator's
        # spelling of it is what gets compared; any other is kept verbatim.
        if is_allow_secrets_manager(json.loads(text), configuration["FunctionArn"]):
            entry["policy"] = {"allow_secretsmanager": True}
        else:
            entry["policy"] = text
    return entry


LAST_MODIFIED = re.compile(
    r"^(?P<seconds>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<fraction>\d+))?(?P<zone>Z|[+-]\d\d:?\d\d)$"
)


def last_modified_instant(text: str) -> str:
    """`LastModified` as the UTC instant to the millisecond, whichever way it is spelled."""
    match = LAST_MODIFIED.match(text)
    assert match, f"LastModified {text!r} is not ISO 8601"
    zone = match["zone"].replace("Z", "+00:00")
    if ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    milliseconds = (match["fraction"] or "").ljust(3, "0")[:3]
    when = datetime.fromisoformat(f"{match['seconds']}.{milliseconds}{zone}").astimezone(UTC)
    return when.isoformat(timespec="milliseconds")


# Settings of a function created without them: AWS's defaults, which both
# servers answer; a simulator that hard-coded another default would show here.
DEFAULT_SETTINGS = (
    "Version",
    "Description",
    "Timeout",
    "MemorySize",
    "TracingConfig",
    "Architectures",
    "EphemeralStorage",
    "SnapStart",
)
# What a check of rotation functions reads (Role too: the fleet file carries it).
CONFIGURATION_FIELDS = (
    "FunctionArn",
    "FunctionName",
    "Runtime",
    "State",
    "LastUpdateStatus",
    "PackageType",
    "Role",
)


def call(operation: Any, **request: Any) -> dict[str, Any]:
    """One call's answer, reduced to what the exporter uses, or its error code and HTTP status."""
    try:
        answer = operation(**request)
    except ClientError as error:
        return {
            "error": error.response["Error"]["Code"],
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    if "Policy" in answer:
        policy = json.loads(answer["Policy"])
        return {
            "Version": policy.get("Version"),
            "Id": policy.get("Id"),
            "Statement": sorted(policy.get("Statement", []), key=lambda statement: statement.get("Sid", "")),
        }
    facts = {key: answer.get(key) for key in CONFIGURATION_FIELDS}
    facts["LastModified"] = last_modified_instant(answer["LastModified"])
    facts.update({key: answer.get(key) for key in DEFAULT_SETTINGS})
    return facts


def answers(client: Any) -> dict[str, dict[str, Any]]:
    """Every read of the test, one fact per line, keyed by the call and how it named the function."""
    found: dict[str, dict[str, Any]] = {}
    for name in NAMES:
        arn = function_arn(name)
        for label, operation in (
            ("GetFunctionConfiguration", client.get_function_configuration),
            ("GetPolicy", client.get_policy),
        ):
            found[f"{label} {name}"] = call(operation, FunctionName=name)
            found[f"{label} {arn}"] = call(operation, FunctionName=arn)
            found[f"{label} {name} Qualifier={LATEST}"] = call(operation, FunctionName=name, Qualifier=LATEST)
            # No version was ever published: version 1 does not exist.
            found[f"{label} {name} Qualifier=1"] = call(operation, FunctionName=name, Qualifier="1")
            found[f"{label} {name}:1"] = call(operation, FunctionName=f"{name}:1")
    return found


def expected_from_plan() -> dict[str, dict[str, Any]]:
    """What the plan alone says each read must answer; only what the plan decides."""
    expected: dict[str, dict[str, Any]] = {}
    not_found = {"error": "ResourceNotFoundException", "status": 404}
    for function in FUNCTIONS:
        arn = function_arn(function.name)
        configuration = {
            "FunctionArn": arn,
            "FunctionName": function.name,
            "Runtime": function.runtime,
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Role": f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}",
        }
        expected[f"GetFunctionConfiguration {function.name}"] = configuration
        expected[f"GetFunctionConfiguration {arn}"] = configuration
        expected[f"GetFunctionConfiguration {function.name} Qualifier={LATEST}"] = {
            **configuration,
            # Asked with a qualifier, Lambda answers the qualified ARN.
            "FunctionArn": f"{arn}:{LATEST}",
        }
        if function.invoked_by:
            policy = {
                "Version": "2012-10-17",
                "Id": "default",
                "Statement": [
                    {
                        "Sid": function.statement_id,
                        "Effect": "Allow",
                        "Principal": {"Service": function.invoked_by},
                        "Action": INVOKE,
                        "Resource": arn,
                    }
                ],
            }
        else:
            policy = not_found
        for form in (function.name, arn, f"{function.name} Qualifier={LATEST}"):
            expected[f"GetPolicy {form}"] = policy
        for label in ("GetFunctionConfiguration", "GetPolicy"):
            expected[f"{label} {function.name} Qualifier=1"] = not_found
            expected[f"{label} {function.name}:1"] = not_found
    arn = function_arn(MISSING)
    for label in ("GetFunctionConfiguration", "GetPolicy"):
        for form in (MISSING, arn, f"{MISSING} Qualifier={LATEST}", f"{MISSING} Qualifier=1", f"{MISSING}:1"):
            expected[f"{label} {form}"] = not_found
    return expected


def departures_from_plan(found: dict[str, dict[str, Any]]) -> list[str]:
    """Where a server's answers differ from the plan, on the facts the plan decides."""
    problems: list[str] = []
    for key, wanted in expected_from_plan().items():
        answer = found.get(key)
        if answer is None:
            problems.append(f"{key}: never asked")
            continue
        got = {field: answer.get(field) for field in wanted}
        if got != wanted:
            problems.append(f"{key}:\n  planned: {wanted}\n  answer:  {got}")
    return problems


class QuotingDumper(yaml.SafeDumper):
    """Writes every string quoted, so a YAML 1.2 reader cannot take one for a number or a date."""


QuotingDumper.add_representer(
    str, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
)


@pytest.fixture(scope="module")
def lambda_moto_endpoint() -> Iterator[AwsEndpoint]:
    # A moto_server of its own, so the functions and the role never meet
    # another test's.
    with running_moto_server() as endpoint:
        build_in_moto(endpoint)
        yield endpoint


@pytest.fixture(scope="module")
def simulator_fleet(lambda_moto_endpoint: AwsEndpoint) -> dict[str, Any]:
    return fleet_from_answers(lambda_client(lambda_moto_endpoint))


@pytest.fixture(scope="module")
def lambda_simulator_endpoint(
    simulator_fleet: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AwsEndpoint]:
    fleet_file: Path = tmp_path_factory.mktemp("lambda") / "fleet.yaml"
    fleet_file.write_text(yaml.dump(simulator_fleet, Dumper=QuotingDumper, sort_keys=False))
    with running_simulator(fleet_file) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def moto_answers(lambda_moto_endpoint: AwsEndpoint) -> dict[str, dict[str, Any]]:
    return answers(lambda_client(lambda_moto_endpoint))


@pytest.fixture(scope="module")
def simulator_answers(lambda_simulator_endpoint: AwsEndpoint) -> dict[str, dict[str, Any]]:
    return answers(lambda_client(lambda_simulator_endpoint))


def test_the_fleet_read_from_moto_holds_every_planned_function(simulator_fleet: dict[str, Any]) -> None:
    """Each created function, with its runtime and policy; the missing one absent.

    Without this, a function both servers lost would go unnoticed, and a policy
    moto spelled differently would be compared verbatim rather than as the
    simulator writes it.
    """
    held = {
        entry["name"]: (entry["runtime"], policy_kind(entry["policy"]))
        for entry in simulator_fleet["lambdas"]
    }
    planned = {function.name: (function.runtime, planned_policy_kind(function)) for function in FUNCTIONS}
    assert held == planned


def policy_kind(policy: Any) -> str:
    """How a fleet entry's `policy:` describes the function's resource policy."""
    if isinstance(policy, str):
        (statement,) = json.loads(policy)["Statement"]
        return f"verbatim, invoked by {statement['Principal']['Service']}"
    if policy == {"allow_secretsmanager": True}:
        return "allow_secretsmanager"
    if policy == {"allow_secretsmanager": False}:
        return "none"
    return f"unexpected {policy!r}"


def planned_policy_kind(function: PlannedFunction) -> str:
    if function.invoked_by is None:
        return "none"
    if function.invoked_by == SECRETS_MANAGER and function.statement_id == SECRETS_MANAGER_SID:
        return "allow_secretsmanager"
    return f"verbatim, invoked by {function.invoked_by}"


def test_moto_answers_as_planned(moto_answers: dict[str, dict[str, Any]]) -> None:
    problems = departures_from_plan(moto_answers)
    assert not problems, "moto departs from the plan:\n" + "\n".join(problems)


def test_the_simulator_answers_as_planned(simulator_answers: dict[str, dict[str, Any]]) -> None:
    problems = departures_from_plan(simulator_answers)
    assert not problems, "the simulator departs from the plan:\n" + "\n".join(problems)


def test_the_simulator_answers_every_read_as_moto_does(
    moto_answers: dict[str, dict[str, Any]], simulator_answers: dict[str, dict[str, Any]]
) -> None:
    """Every field above, every error code and HTTP status, for every way of naming a function."""
    assert set(moto_answers) == set(simulator_answers)
    differences = [
        f"{key}:\n  moto:      {moto_answers[key]}\n  simulator: {simulator_answers[key]}"
        for key in sorted(moto_answers)
        if moto_answers[key] != simulator_answers[key]
    ]
    assert not differences, "the simulator answers differently from moto:\n" + "\n".join(differences)
