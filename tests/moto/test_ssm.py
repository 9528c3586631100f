"""SSM's DescribeParameters and ListTagsForResource answer the same in moto as in our aws-simulator.

`sources.ssm_parameters` lists parameters with DescribeParameters (`Type`
Equals the configured types, per path prefix `Path` Recursive, 50 a page,
following `NextToken`) and reads each one's tags with ListTagsForResource;
it never reads a value. The simulator answers those reads for every test we
write ourselves, so here moto, built through the real write API (CreateKey,
CreateAlias, PutParameter with `KeyId`, `Tier`, `Policies` and `Tags`,
AddTagsToResource), is the second opinion.

The simulator's fleet is derived from what moto answers (DescribeParameters
without a filter, ListTagsForResource per parameter), not from the plan
below, so the comparison tests the simulator's answers against moto's; what
the plan asks for is also checked on both sides, so a fact both servers got
wrong alike cannot pass.

What moto does differently from AWS, and the test therefore leaves out of
the comparison (the simulator's side of each is held to the plan instead):
- Page size: moto answers 10 parameters a page whatever `MaxResults` says,
  and a page that fills up carries a `NextToken` even when nothing follows
  (an empty last page). AWS and the simulator honour `MaxResults` up to 50.
  Pages are therefore joined before comparing; the page sizes of each side
  are pinned by a test of their own.
- Order: moto lists in creation order, the simulator by name; AWS documents
  none. Parameters are compared by name (and checked for duplicates).
- `ARN`: moto leaves it out of ParameterMetadata; AWS and the simulator send
  `arn:aws:ssm:<region>:<account>:parameter/<name without its leading />`.
- `LastModifiedUser`: moto says `N/A`; AWS names the IAM principal (the
  simulator: the fleet's `last_modified_user`, else its base user). The fleet
  does not copy moto's `N/A`.
- `LastModifiedDate`: moto's is the moment PutParameter ran (it cannot
  backdate); the fleet carries that instant and it is compared to the
  millisecond.
- `Policies`: moto sends each policy's `PolicyText` as a Python repr of the
  JSON it was given (`{'Type': 'Expiration', ...}`, single quotes), puts that
  same text in `PolicyType` instead of `Expiration`, and says `Finished` for
  every `PolicyStatus`, even an expiration years ahead. AWS sends the JSON
  text, the type's name and `Pending` until the policy has acted. Only the
  parsed policy text is compared; the fleet carries no status (the simulator
  derives it: `Pending`, `Finished` once an expiration has passed).
- `KeyId`: both echo what PutParameter was given (`alias/aws/ssm` when none
  was): a key id, a key ARN or an alias, verbatim. The fleet copies moto's.
- Tag order: moto keeps the order tags were added in, the simulator sorts by
  key; AWS documents none. Tags are compared as a mapping.
- `DataType` is `text` on both (the default); `aws:ec2:image` parameters are
  not built here.
- Requests the exporter never sends are not compared, and moto answers some
  of them unlike AWS: it ignores a `Tier` filter (no parameter matches),
  accepts `MaxResults` above 50 (AWS: ValidationException), answers HTTP 500
  to a `NextToken` it did not issue (AWS: InvalidNextToken) and
  InvalidFilterOption to an unknown `Type` value (AWS: InvalidFilterValue).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import AwsEndpoint, running_moto_server, running_simulator
from test_lambda import ACCOUNT, REGION, QuotingDumper

PAGE = 50
DEFAULT_KEY = "alias/aws/ssm"
EXPIRES = "2030-01-01T00:00:00.000Z"
# Key references PutParameter is given; resolved to a moto key at build time.
KEY_ID = "key-id"
KEY_ARN = "key-arn"
KEY_ALIAS = "alias/payments"


@dataclass(frozen=True)
class PlannedParameter:
    name: str
    type: str = "SecureString"
    # None: no KeyId at PutParameter; KEY_ID / KEY_ARN: the moto key by id or ARN;
    # anything else is passed verbatim (an alias).
    key: str | None = None
    tier: str = "Standard"
    description: str | None = None
    allowed_pattern: str | None = None
    # Given to PutParameter's `Tags`, then to AddTagsToResource.
    tags: dict[str, str] = field(default_factory=dict)
    added_tags: dict[str, str] = field(default_factory=dict)
    policies: tuple[dict[str, Any], ...] = ()


POLICIES = (
    {"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": EXPIRES}},
    {"Type": "ExpirationNotification", "Version": "1.0", "Attributes": {"Before": "15", "Unit": "Days"}},
    {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": "90", "Unit": "Days"}},
)
BULK = tuple(PlannedParameter(f"/bulk/item-{index:02d}") for index in range(60))
PARAMETERS = (
    # Paths at one to four levels under /app, and one beside it that only
    # looks like it (`/apple` is not under `/app`).
    PlannedParameter("/app/db-password"),
    PlannedParameter("/app/api/signing-key", key=KEY_ID, tags={"team": "payments"}),
    PlannedParameter("/app/api/token", key=KEY_ARN),
    PlannedParameter("/app/legacy/v1/session-secret", key=DEFAULT_KEY),
    PlannedParameter("/app/payments/card-key", key=KEY_ALIAS, tags={"team": "payments", "env": "prod"}),
    PlannedParameter(
        "/app/config/endpoint",
        type="String",
        description="Where the API answers",
        tags={"team": "platform"},
        added_tags={"env": "prod"},
    ),
    PlannedParameter("/app/config/hosts", type="StringList", allowed_pattern="^[a-z0-9.,-]+$"),
    PlannedParameter("/apple/colour", type="String"),
    PlannedParameter(
        "/payments/rotation-token",
        tier="Advanced",
        key=KEY_ID,
        policies=POLICIES,
        added_tags={"team": "payments"},
    ),
    PlannedParameter("/payments/expiring", tier="Advanced", policies=POLICIES[:1]),
    # At the root: no path at all.
    PlannedParameter("plain-flag", type="String", tags={"owner": "ops"}),
    *BULK,
)
MISSING = "/app/never-created"
BY_NAME = {parameter.name: parameter for parameter in PARAMETERS}

# The listings compared, as (label, ParameterFilters): what `sources.ssm_parameters` sends,
# with one type and with several, per path prefix, and with no filter at all.
LISTINGS: tuple[tuple[str, list[dict[str, Any]]], ...] = (
    ("no filter", []),
    ("Type=SecureString", [{"Key": "Type", "Option": "Equals", "Values": ["SecureString"]}]),
    ("Type=String,StringList", [{"Key": "Type", "Option": "Equals", "Values": ["String", "StringList"]}]),
    (
        "Type=SecureString,String,StringList",
        [{"Key": "Type", "Option": "Equals", "Values": ["SecureString", "String", "StringList"]}],
    ),
    ("Path=/app Recursive", [{"Key": "Path", "Option": "Recursive", "Values": ["/app"]}]),
    (
        "Type=SecureString Path=/app Recursive",
        [
            {"Key": "Type", "Option": "Equals", "Values": ["SecureString"]},
            {"Key": "Path", "Option": "Recursive", "Values": ["/app"]},
        ],
    ),
    ("Path=/bulk Recursive", [{"Key": "Path", "Option": "Recursive", "Values": ["/bulk"]}]),
)


def planned_names(label: str) -> set[str]:
    """Which planned parameters a listing must answer."""
    types = {"SecureString", "String", "StringList"}
    under: str | None = None
    for item in dict(LISTINGS)[label]:
        if item["Key"] == "Type":
            types = set(item["Values"])
        elif item["Key"] == "Path":
            under = item["Values"][0].rstrip("/") + "/"
    return {
        parameter.name
        for parameter in PARAMETERS
        if parameter.type in types and (under is None or parameter.name.startswith(under))
    }


def client(endpoint: AwsEndpoint, service: str = "ssm") -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint.url,
        aws_access_key_id=endpoint.access_key_id,
        aws_secret_access_key=endpoint.secret_access_key,
        # One request per call: an error is the server's answer, not a retry's.
        config=Config(retries={"total_max_attempts": 1}),
    )


def put_parameters(endpoint: AwsEndpoint, parameters: tuple[PlannedParameter, ...]) -> dict[str, str]:
    """Creates the parameters through the write API, as an administrator would.

    Returns the KeyId each parameter was given (absent: none), for the plan checks.
    """
    kms = client(endpoint, "kms")
    key = kms.create_key(Description="parameter store key")["KeyMetadata"]
    kms.create_alias(AliasName=KEY_ALIAS, TargetKeyId=key["KeyId"])
    given: dict[str, str] = {}
    ssm = client(endpoint)
    for parameter in parameters:
        request: dict[str, Any] = {
            "Name": parameter.name,
            "Value": "never read",
            "Type": parameter.type,
            "Tier": parameter.tier,
        }
        if parameter.key is not None:
            request["KeyId"] = {KEY_ID: key["KeyId"], KEY_ARN: key["Arn"]}.get(parameter.key, parameter.key)
            given[parameter.name] = request["KeyId"]
        if parameter.description:
            request["Description"] = parameter.description
        if parameter.allowed_pattern:
            request["AllowedPattern"] = parameter.allowed_pattern
        if parameter.tags:
            request["Tags"] = [{"Key": k, "Value": v} for k, v in parameter.tags.items()]
        if parameter.policies:
            request["Policies"] = json.dumps(list(parameter.policies))
        ssm.put_parameter(**request)
        if parameter.added_tags:
            ssm.add_tags_to_resource(
                ResourceType="Parameter",
                ResourceId=parameter.name,
                Tags=[{"Key": k, "Value": v} for k, v in parameter.added_tags.items()],
            )
    return given


def policy_document(text: str) -> dict[str, Any]:
    """A policy's text as a document: JSON as AWS sends it, or the Python repr moto sends."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        document = ast.literal_eval(text)
    assert isinstance(document, dict), f"policy text {text!r} is not a document"
    return document


def fleet_policy(text: str) -> dict[str, Any]:
    """A fleet file's `policies:` entry for one policy text. Its status is left for the
    simulator to derive (moto's `Finished` is wrong for a policy still to act)."""
    document = policy_document(text)
    attributes = document.get("Attributes") or {}
    kind = document["Type"]
    if kind == "Expiration":
        return {"type": kind, "timestamp": attributes["Timestamp"]}
    if kind == "ExpirationNotification":
        return {"type": kind, "before": int(attributes["Before"]), "unit": attributes.get("Unit", "Days")}
    if kind == "NoChangeNotification":
        return {"type": kind, "after": int(attributes["After"]), "unit": attributes.get("Unit", "Days")}
    raise AssertionError(f"unknown policy type {kind!r} in {text!r}")


def describe_all(ssm: Any, filters: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[int]]:
    """Every parameter a listing answers, following NextToken as the exporter does, and the page sizes."""
    parameters: list[dict[str, Any]] = []
    sizes: list[int] = []
    token: str | None = None
    while True:
        request: dict[str, Any] = {"MaxResults": PAGE}
        if filters:
            request["ParameterFilters"] = filters
        if token:
            request["NextToken"] = token
        page = ssm.describe_parameters(**request)
        parameters.extend(page["Parameters"])
        sizes.append(len(page["Parameters"]))
        token = page.get("NextToken")
        if not token:
            return parameters, sizes
        assert len(sizes) < 100, f"DescribeParameters {filters} does not end"


def tags_of(ssm: Any, name: str) -> dict[str, str]:
    answer = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)
    return {tag["Key"]: tag["Value"] for tag in answer["TagList"]}


def fleet_from_answers(ssm: Any) -> dict[str, Any]:
    """A simulator fleet holding the parameters a server lists, read as the exporter reads them."""
    listed, _ = describe_all(ssm, [])
    parameters: list[dict[str, Any]] = []
    for metadata in listed:
        entry: dict[str, Any] = {
            "name": metadata["Name"],
            "type": metadata["Type"],
            "tier": metadata["Tier"],
            "last_modified": metadata["LastModifiedDate"].astimezone(UTC).isoformat(timespec="milliseconds"),
            "version": metadata["Version"],
            "data_type": metadata["DataType"],
        }
        if "KeyId" in metadata:
            entry["key_id"] = metadata["KeyId"]
        if "Description" in metadata:
            entry["description"] = metadata["Description"]
        if "AllowedPattern" in metadata:
            entry["allowed_pattern"] = metadata["AllowedPattern"]
        tags = tags_of(ssm, metadata["Name"])
        if tags:
            entry["tags"] = tags
        if metadata.get("Policies"):
            entry["policies"] = [fleet_policy(policy["PolicyText"]) for policy in metadata["Policies"]]
        parameters.append(entry)
    return {"base_account": ACCOUNT, "regions": [REGION], "parameters": parameters}


def write_fleet(fleet: dict[str, Any], directory: Path) -> Path:
    path = directory / "fleet.yaml"
    path.write_text(yaml.dump(fleet, Dumper=QuotingDumper, sort_keys=False))
    return path


def instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def compared(metadata: dict[str, Any]) -> dict[str, Any]:
    """What both servers must agree on of one ParameterMetadata (see the module's list)."""
    return {
        "Type": metadata.get("Type"),
        "KeyId": metadata.get("KeyId"),
        "Tier": metadata.get("Tier"),
        "Version": metadata.get("Version"),
        "DataType": metadata.get("DataType"),
        "Description": metadata.get("Description"),
        "AllowedPattern": metadata.get("AllowedPattern"),
        "LastModifiedDate": instant(metadata["LastModifiedDate"]),
        "Policies": [policy_document(policy["PolicyText"]) for policy in metadata.get("Policies", [])],
    }


def call(operation: Any, **request: Any) -> dict[str, Any]:
    """A ListTagsForResource answer as a mapping, or its error code and HTTP status."""
    try:
        answer = operation(**request)
    except ClientError as error:
        return {
            "error": error.response["Error"]["Code"],
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    return {"tags": {tag["Key"]: tag["Value"] for tag in answer["TagList"]}}


@dataclass
class Answers:
    # Per listing label: parameters by name (a name listed twice is kept under "duplicates").
    listings: dict[str, dict[str, dict[str, Any]]]
    raw: dict[str, list[dict[str, Any]]]
    page_sizes: dict[str, list[int]]
    tags: dict[str, dict[str, Any]]


def answers(ssm: Any) -> Answers:
    listings: dict[str, dict[str, dict[str, Any]]] = {}
    raw: dict[str, list[dict[str, Any]]] = {}
    sizes: dict[str, list[int]] = {}
    for label, filters in LISTINGS:
        listed, sizes[label] = describe_all(ssm, filters)
        raw[label] = listed
        listings[label] = {metadata["Name"]: compared(metadata) for metadata in listed}
    tags = {
        name: call(ssm.list_tags_for_resource, ResourceType="Parameter", ResourceId=name)
        for name in (*BY_NAME, MISSING)
    }
    return Answers(listings=listings, raw=raw, page_sizes=sizes, tags=tags)


def departures_from_plan(found: Answers, key_ids: dict[str, str]) -> list[str]:
    """Where a server's answers differ from the plan, on the facts the plan decides."""
    problems: list[str] = []
    for label, _ in LISTINGS:
        names = [metadata["Name"] for metadata in found.raw[label]]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            problems.append(f"{label}: listed more than once: {twice}")
        if set(names) != planned_names(label):
            problems.append(
                f"{label}: missing {sorted(planned_names(label) - set(names))}, "
                f"unplanned {sorted(set(names) - planned_names(label))}"
            )
    for name, metadata in found.listings["no filter"].items():
        parameter = BY_NAME.get(name)
        if parameter is None:
            continue
        wanted = {
            "Type": parameter.type,
            "Tier": parameter.tier,
            "Version": 1,
            "DataType": "text",
            "Description": parameter.description,
            "AllowedPattern": parameter.allowed_pattern,
            "KeyId": key_ids.get(name, DEFAULT_KEY) if parameter.type == "SecureString" else None,
            "Policies": list(parameter.policies),
        }
        got = {key: metadata[key] for key in wanted}
        if got != wanted:
            problems.append(f"{name}:\n  planned: {wanted}\n  answer:  {got}")
    for name, answer in found.tags.items():
        parameter = BY_NAME.get(name)
        wanted_tags = (
            {"tags": {**parameter.tags, **parameter.added_tags}}
            if parameter
            else {"error": "InvalidResourceId", "status": 400}
        )
        if answer != wanted_tags:
            problems.append(f"ListTagsForResource {name}: planned {wanted_tags}, answer {answer}")
    return problems


@pytest.fixture(scope="module")
def ssm_moto_endpoint() -> Iterator[tuple[AwsEndpoint, dict[str, str]]]:
    # A moto_server of its own, so these parameters never meet another test's.
    with running_moto_server() as endpoint:
        yield endpoint, put_parameters(endpoint, PARAMETERS)


@pytest.fixture(scope="module")
def simulator_fleet(ssm_moto_endpoint: tuple[AwsEndpoint, dict[str, str]]) -> dict[str, Any]:
    return fleet_from_answers(client(ssm_moto_endpoint[0]))


@pytest.fixture(scope="module")
def ssm_simulator_endpoint(
    simulator_fleet: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AwsEndpoint]:
    with running_simulator(write_fleet(simulator_fleet, tmp_path_factory.mktemp("ssm"))) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def moto_answers(ssm_moto_endpoint: tuple[AwsEndpoint, dict[str, str]]) -> Answers:
    return answers(client(ssm_moto_endpoint[0]))


@pytest.fixture(scope="module")
def simulator_answers(ssm_simulator_endpoint: AwsEndpoint) -> Answers:
    return answers(client(ssm_simulator_endpoint))


def test_the_fleet_read_from_moto_holds_every_planned_parameter(simulator_fleet: dict[str, Any]) -> None:
    """Each created parameter with its type, tier, tags and policy kinds; nothing else."""
    held = {
        entry["name"]: (
            entry["type"],
            entry["tier"],
            entry.get("tags", {}),
            [policy["type"] for policy in entry.get("policies", [])],
        )
        for entry in simulator_fleet["parameters"]
    }
    planned = {
        parameter.name: (
            parameter.type,
            parameter.tier,
            {**parameter.tags, **parameter.added_tags},
            [policy["Type"] for policy in parameter.policies],
        )
        for parameter in PARAMETERS
    }
    assert held == planned


def test_moto_answers_as_planned(
    moto_answers: Answers, ssm_moto_endpoint: tuple[AwsEndpoint, dict[str, str]]
) -> None:
    problems = departures_from_plan(moto_answers, ssm_moto_endpoint[1])
    assert not problems, "moto departs from the plan:\n" + "\n".join(problems)


def test_the_simulator_answers_as_planned(
    simulator_answers: Answers, ssm_moto_endpoint: tuple[AwsEndpoint, dict[str, str]]
) -> None:
    problems = departures_from_plan(simulator_answers, ssm_moto_endpoint[1])
    assert not problems, "the simulator departs from the plan:\n" + "\n".join(problems)


def test_the_simulator_lists_and_tags_every_parameter_as_moto_does(
    moto_answers: Answers, simulator_answers: Answers
) -> None:
    """Every listing's parameters with every compared field, and every ListTagsForResource answer."""
    differences: list[str] = []
    for label, _ in LISTINGS:
        ours, theirs = simulator_answers.listings[label], moto_answers.listings[label]
        for name in sorted(set(ours) | set(theirs)):
            if ours.get(name) != theirs.get(name):
                differences.append(
                    f"DescribeParameters {label} {name}:\n  moto:      {theirs.get(name)}\n"
                    f"  simulator: {ours.get(name)}"
                )
    for name in sorted(moto_answers.tags):
        if moto_answers.tags[name] != simulator_answers.tags.get(name):
            differences.append(
                f"ListTagsForResource {name}:\n  moto:      {moto_answers.tags[name]}\n"
                f"  simulator: {simulator_answers.tags.get(name)}"
            )
    assert not differences, "the simulator answers differently from moto:\n" + "\n".join(differences)


def test_pages_hold_fifty_in_the_simulator_and_ten_in_moto(
    moto_answers: Answers, simulator_answers: Answers
) -> None:
    """The 60 parameters under /bulk take two pages of MaxResults 50 from the simulator, as from AWS.

    moto ignores MaxResults (10 a page, and an empty page after a full last one); pinned here so
    a moto that starts honouring it shows, and the joined comparison above stays meaningful.
    """
    label = "Path=/bulk Recursive"
    assert simulator_answers.page_sizes[label] == [50, 10]
    assert moto_answers.page_sizes[label] == [10, 10, 10, 10, 10, 10, 0]
    total = len(planned_names("Type=SecureString"))
    assert simulator_answers.page_sizes["Type=SecureString"] == [PAGE, total - PAGE]


def test_the_simulator_sends_what_aws_sends_and_moto_leaves_out(simulator_answers: Answers) -> None:
    """ARN, a principal in LastModifiedUser, and each policy's type and status, on the simulator side."""
    problems: list[str] = []
    now = datetime.now(UTC)
    for metadata in simulator_answers.raw["no filter"]:
        name = metadata["Name"]
        arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{name.lstrip('/')}"
        if metadata.get("ARN") != arn:
            problems.append(f"{name}: ARN {metadata.get('ARN')!r}, AWS sends {arn!r}")
        if not str(metadata.get("LastModifiedUser", "")).startswith(f"arn:aws:iam::{ACCOUNT}:"):
            user = metadata.get("LastModifiedUser")
            problems.append(f"{name}: LastModifiedUser {user!r} is not a principal")
        for policy in metadata.get("Policies", []):
            document = json.loads(policy["PolicyText"])
            if policy["PolicyType"] != document["Type"]:
                problems.append(f"{name}: PolicyType {policy['PolicyType']!r} for {document['Type']}")
            timestamp = (document.get("Attributes") or {}).get("Timestamp")
            acted = timestamp is not None and datetime.fromisoformat(timestamp.replace("Z", "+00:00")) <= now
            wanted = "Finished" if acted else "Pending"
            if policy["PolicyStatus"] != wanted:
                problems.append(f"{name}: PolicyStatus {policy['PolicyStatus']!r}, not {wanted}")
    assert not problems, "\n".join(problems)


def test_a_root_parameter_is_found_with_or_without_its_leading_slash(
    ssm_moto_endpoint: tuple[AwsEndpoint, dict[str, str]], ssm_simulator_endpoint: AwsEndpoint
) -> None:
    found = {}
    for side, endpoint in (("moto", ssm_moto_endpoint[0]), ("simulator", ssm_simulator_endpoint)):
        ssm = client(endpoint)
        listed, _ = describe_all(ssm, [{"Key": "Name", "Option": "Equals", "Values": ["/plain-flag"]}])
        found[side] = (
            [metadata["Name"] for metadata in listed],
            call(ssm.list_tags_for_resource, ResourceType="Parameter", ResourceId="/plain-flag"),
        )
    assert found["moto"] == (["plain-flag"], {"tags": {"owner": "ops"}})
    assert found["simulator"] == found["moto"]
