"""Builds a simulator fleet file in moto through the AWS API.

Only what moto models can be built. Fields that moto stamps by itself
(`last_rotated`, `next_rotation`, `versions`) are not requested but checked
afterwards by `differences_from_fleet`, so the fleet file keeps describing what
moto really holds and the simulator is given the same secrets.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import yaml

DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
READER_ROLE = "secrets-rotation-reader"
LAMBDA_ROLE = "secrets-rotation-lambda"

# Fields moto is asked to hold, and fields moto sets by itself that the fleet
# must spell out for the simulator. Anything else cannot be built in moto.
REQUESTED_FIELDS = {"name", "account", "region", "description", "kms_key_id", "tags", "rotation", "deleted"}
STAMPED_FIELDS = {"last_rotated", "next_rotation", "versions"}
ROTATION_FIELDS = {"enabled", "lambda_arn", "automatically_after_days"}

# moto stamps "now" while the test runs; the fleet's relative times are
# compared with that much slack.
TIME_TOLERANCE = timedelta(minutes=15)

LAMBDA_ARN = re.compile(
    r"^arn:aws:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:(?P<name>[A-Za-z0-9_-]+)$"
)
RELATIVE_TIME = re.compile(r"^(?P<sign>[+-])(?P<amount>\d+)(?P<unit>[dhms])$")
UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


class FleetError(Exception):
    """The fleet file asks for something moto cannot hold."""


@dataclass(frozen=True)
class FleetSecret:
    account: str
    region: str
    name: str
    spec: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.account, self.region, self.name)


@dataclass
class Fleet:
    base_account: str
    regions_by_account: dict[str, list[str]]
    secrets: list[FleetSecret] = field(default_factory=list)

    @property
    def targets(self) -> set[tuple[str, str]]:
        return {
            (account, region) for account, regions in self.regions_by_account.items() for region in regions
        }


def load_fleet(path: Path) -> Fleet:
    document = yaml.safe_load(path.read_text())
    if not isinstance(document, dict):
        raise FleetError(f"{path}: expected a mapping at the top level")
    base_account = str(document.get("base_account", ""))
    default_regions = document.get("regions") or []
    if not base_account or not default_regions:
        raise FleetError(f"{path}: base_account and regions are required")

    regions_by_account = {base_account: list(default_regions)}
    for index, account in enumerate(document.get("accounts") or []):
        if account.get("deny_assume_role"):
            raise FleetError(
                f"{path}: accounts[{index}].deny_assume_role: moto has no way to refuse AssumeRole"
            )
        regions_by_account[str(account["id"])] = list(account.get("regions") or default_regions)

    fleet = Fleet(base_account=base_account, regions_by_account=regions_by_account)
    for index, spec in enumerate(document.get("secrets") or []):
        where = f"{path}: secrets[{index}]"
        unknown = set(spec) - REQUESTED_FIELDS - STAMPED_FIELDS
        if unknown:
            raise FleetError(f"{where}: moto cannot model {sorted(unknown)}")
        unknown_rotation = set(spec.get("rotation") or {}) - ROTATION_FIELDS
        if unknown_rotation:
            raise FleetError(f"{where}.rotation: moto cannot model {sorted(unknown_rotation)}")
        account = str(spec.get("account", base_account))
        if account not in regions_by_account:
            raise FleetError(f"{where}.account: {account} is not in accounts")
        region = spec.get("region", regions_by_account[account][0])
        fleet.secrets.append(FleetSecret(account=account, region=region, name=spec["name"], spec=spec))
    return fleet


def relative_time(text: str, now: datetime) -> datetime:
    """The fleet's `now` / `+7d` / RFC 3339 times, as the simulator reads them."""
    text = str(text)
    if text == "now":
        return now
    match = RELATIVE_TIME.match(text)
    if match:
        seconds = int(match["amount"]) * UNIT_SECONDS[match["unit"]]
        return now + timedelta(seconds=seconds if match["sign"] == "+" else -seconds)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class AwsAccounts:
    """Clients for every account of a fleet on one endpoint, moto or the simulator."""

    def __init__(self, endpoint_url: str, fleet: Fleet, base_credentials: dict[str, str]) -> None:
        self.endpoint_url = endpoint_url
        self.fleet = fleet
        self._base_credentials = dict(base_credentials)
        self._assumed: dict[str, dict[str, str]] = {}

    def credentials(self, account: str) -> dict[str, str]:
        """The base credentials for the base account, assumed-role ones for the others."""
        if account == self.fleet.base_account:
            return dict(self._base_credentials)
        if account not in self._assumed:
            sts = boto3.client(
                "sts", region_name="us-east-1", endpoint_url=self.endpoint_url, **self._base_credentials
            )
            assumed = sts.assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/{READER_ROLE}",
                RoleSessionName="parity-test",
            )["Credentials"]
            self._assumed[account] = {
                "aws_access_key_id": assumed["AccessKeyId"],
                "aws_secret_access_key": assumed["SecretAccessKey"],
                "aws_session_token": assumed["SessionToken"],
            }
        return self._assumed[account]

    def client(self, service: str, account: str, region: str) -> Any:
        return boto3.client(
            service, region_name=region, endpoint_url=self.endpoint_url, **self.credentials(account)
        )

    def list_secrets(self, account: str, region: str) -> list[dict[str, Any]]:
        secrets = self.client("secretsmanager", account, region)
        listed: list[dict[str, Any]] = []
        for page in secrets.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True):
            listed.extend(page["SecretList"])
        return listed


class MotoFleetBuilder:
    """Creates the fleet's secrets in a running moto server, account by account."""

    def __init__(self, endpoint_url: str, fleet: Fleet) -> None:
        self.fleet = fleet
        self.accounts = AwsAccounts(endpoint_url, fleet, DUMMY_CREDENTIALS)
        self._kms_keys: dict[str, str] = {}
        self._lambda_functions: set[str] = set()
        self._lambda_roles: set[str] = set()

    def client(self, service: str, account: str, region: str) -> Any:
        return self.accounts.client(service, account, region)

    def build(self) -> None:
        for secret in self.fleet.secrets:
            self._create(secret)

    def _create(self, secret: FleetSecret) -> None:
        spec = secret.spec
        secrets = self.client("secretsmanager", secret.account, secret.region)
        request: dict[str, Any] = {"Name": secret.name, "SecretString": json.dumps({"password": "parity"})}
        if spec.get("description"):
            request["Description"] = spec["description"]
        if spec.get("kms_key_id"):
            request["KmsKeyId"] = self._kms_key(secret, spec["kms_key_id"])
        if spec.get("tags"):
            request["Tags"] = [{"Key": str(key), "Value": str(value)} for key, value in spec["tags"].items()]
        secrets.create_secret(**request)

        rotation = spec.get("rotation")
        if rotation:
            lambda_arn = rotation.get("lambda_arn")
            if not lambda_arn:
                raise FleetError(f"{secret.key}: moto's CancelRotateSecret needs rotation.lambda_arn")
            self._ensure_lambda(secret, lambda_arn)
            secrets.rotate_secret(
                SecretId=secret.name,
                RotationLambdaARN=lambda_arn,
                RotationRules={"AutomaticallyAfterDays": int(rotation["automatically_after_days"])},
            )
            if not rotation.get("enabled", True):
                secrets.cancel_rotate_secret(SecretId=secret.name)

        if "deleted" in spec:
            match = RELATIVE_TIME.match(str(spec["deleted"]))
            if not match or match["sign"] != "+" or match["unit"] != "d":
                raise FleetError(f"{secret.key}: deleted must be +Nd, the recovery window moto stamps")
            secrets.delete_secret(SecretId=secret.name, RecoveryWindowInDays=int(match["amount"]))

    def _kms_key(self, secret: FleetSecret, fleet_key_id: str) -> str:
        """A real moto key per fleet key; moto picks the id, so only "customer managed" carries over."""
        if fleet_key_id not in self._kms_keys:
            kms = self.client("kms", secret.account, secret.region)
            created = kms.create_key(Description=f"parity key {fleet_key_id}")
            self._kms_keys[fleet_key_id] = created["KeyMetadata"]["Arn"]
        return self._kms_keys[fleet_key_id]

    def _ensure_lambda(self, secret: FleetSecret, lambda_arn: str) -> None:
        match = LAMBDA_ARN.match(lambda_arn)
        if not match:
            raise FleetError(f"{secret.key}: rotation.lambda_arn {lambda_arn!r} is not a Lambda function ARN")
        if (match["account"], match["region"]) != (secret.account, secret.region):
            raise FleetError(f"{secret.key}: rotation.lambda_arn must be in the secret's account and region")
        if lambda_arn in self._lambda_functions:
            return
        iam = self.client("iam", secret.account, "us-east-1")
        if secret.account not in self._lambda_roles:
            iam.create_role(
                RoleName=LAMBDA_ROLE,
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
            )
            self._lambda_roles.add(secret.account)
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as archive:
            archive.writestr("rotate.py", "def handler(event, context):\n    return event\n")
        self.client("lambda", secret.account, secret.region).create_function(
            FunctionName=match["name"],
            Runtime="python3.12",
            Role=f"arn:aws:iam::{secret.account}:role/{LAMBDA_ROLE}",
            Handler="rotate.handler",
            Code={"ZipFile": package.getvalue()},
        )
        self._lambda_functions.add(lambda_arn)


def differences_from_fleet(fleet: Fleet, server: AwsAccounts, server_name: str, now: datetime) -> list[str]:
    """Where a server's ListSecrets answers depart from what the fleet file says."""
    problems: list[str] = []
    for account, region in sorted(fleet.targets):
        listed = {entry["Name"]: entry for entry in server.list_secrets(account, region)}
        expected = {
            secret.name: secret
            for secret in fleet.secrets
            if (secret.account, secret.region) == (account, region)
        }
        for name in sorted(set(listed) ^ set(expected)):
            side = f"only in {server_name}" if name in listed else f"missing from {server_name}"
            problems.append(f"{account} {region} {name}: {side}")
        for name in sorted(set(listed) & set(expected)):
            where = f"{account} {region} {name}"
            problems.extend(
                f"{where}: {problem}"
                for problem in _secret_differences(expected[name].spec, listed[name], server_name, now)
            )
    return problems


def _secret_differences(
    spec: dict[str, Any], entry: dict[str, Any], server_name: str, now: datetime
) -> list[str]:
    problems: list[str] = []

    def differ(what: str, fleet_value: Any, server_value: Any) -> None:
        if fleet_value != server_value:
            problems.append(f"{what}: fleet says {fleet_value!r}, {server_name} holds {server_value!r}")

    differ("customer managed key", "kms_key_id" in spec, "KmsKeyId" in entry)
    differ(
        "tags",
        {str(k): str(v) for k, v in (spec.get("tags") or {}).items()},
        {t["Key"]: t["Value"] for t in entry.get("Tags") or []},
    )
    rotation = spec.get("rotation")
    differ(
        "RotationEnabled",
        rotation.get("enabled", True) if rotation else False,
        # AWS says false where rotation was never configured; moto leaves it out.
        entry.get("RotationEnabled", False),
    )
    differ(
        "RotationLambdaARN", rotation.get("lambda_arn") if rotation else None, entry.get("RotationLambdaARN")
    )
    differ(
        "AutomaticallyAfterDays",
        rotation.get("automatically_after_days") if rotation else None,
        (entry.get("RotationRules") or {}).get("AutomaticallyAfterDays"),
    )
    for fleet_field, api_field in (
        ("last_rotated", "LastRotatedDate"),
        ("next_rotation", "NextRotationDate"),
        ("deleted", "DeletedDate"),
    ):
        server_time = entry.get(api_field)
        if fleet_field not in spec or server_time is None:
            differ(api_field + " present", fleet_field in spec, server_time is not None)
            continue
        fleet_time = relative_time(spec[fleet_field], now)
        if abs(server_time.astimezone(UTC) - fleet_time) > TIME_TOLERANCE:
            differ(api_field, fleet_time.isoformat(), server_time.isoformat())
    fleet_stages = sorted(
        sorted(version.get("stages") or [])
        for version in spec.get("versions") or [{"stages": ["AWSCURRENT"]}]
    )
    server_stages = sorted(sorted(stages) for stages in (entry.get("SecretVersionsToStages") or {}).values())
    differ("version stages", fleet_stages, server_stages)
    return problems
