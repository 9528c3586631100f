"""RDS and EC2 answer the same in moto as in our aws-simulator, and `check` judges both alike.

`sources.rds` lists databases with DescribeDBClusters and DescribeDBInstances
(awsQuery, Version 2014-10-31, `MaxRecords` 100, following `Marker`);
`sources.vpc_endpoints` lists VPCs with DescribeVpcs (`MaxResults` 1000,
following `NextToken`) and their Secrets Manager endpoints with
DescribeVpcEndpoints (`Filter.1.Name=service-name`,
`Filter.1.Value.1=com.amazonaws.<region>.secretsmanager`, `MaxResults` 1000).
Here moto, built through the write API, is the second opinion on the
simulator's answers to exactly those requests, and then on the verdicts
`check --output=json` draws from them.

What is built in moto: DB instances with `ManageMasterUserPassword` and with
a `MasterUserPassword`, a read replica of a managed one, an Aurora
PostgreSQL cluster with `ManageMasterUserPassword` and two member instances
(`CreateDBInstance` with `DBClusterIdentifier`), an Aurora MySQL cluster
with a typed password, a Neptune cluster, and 25 more instances so that
`MaxRecords` 20 takes two pages; VPCs with a Secrets Manager interface
endpoint with private DNS, one without private DNS, one with both, one with
only an S3 gateway endpoint, one with none, one tagged `rotation-exempt`,
and the default VPC moto creates in every region by itself (AWS does too).
Every VPC the test creates carries a `Name` tag naming its place in the plan.

The simulator's fleet is derived from what moto answers (the paged
listings, DescribeVpcEndpoints without a filter, ListSecrets for the
secrets RDS created), not from the plan, so the comparison tests the
simulator against moto; the plan is also checked on both sides, so a fact
both got wrong alike cannot pass.

Compared, per request the exporter sends (pages joined): of a DB instance
`DBInstanceIdentifier`, `Engine`, `DBClusterIdentifier`,
`ReadReplicaSourceDBInstanceIdentifier`, whether `MasterUserSecret` has a
`SecretArn` and the name of that secret; of a DB cluster
`DBClusterIdentifier`, `Engine` and the same of `MasterUserSecret`; of a
VPC `vpcId`, `ownerId`, `isDefault` and its tags (as a mapping); of an
endpoint `vpcEndpointId`, `vpcEndpointType`, `vpcId`, `serviceName`,
`state` and `privateDnsEnabled`. Then per database of the two reports
`db_identifier`, `kind`, `engine`, `compliant` and `not_applicable`, per
VPC `vpc_id`, `is_default`, `endpoints` and `verdict` (with its reason),
the names of the secrets listed, and `summary.databases` and
`summary.vpcs`, with `policy.vpc_endpoint.include_default_vpcs` off and on.

What moto does differently from AWS, and the test therefore leaves out of
the comparison (the simulator's side of each is held to AWS instead):
- EC2 page size: moto ignores `MaxResults` on DescribeVpcs and
  DescribeVpcEndpoints (everything on one page, no `nextToken`) and takes
  values outside 5..1000 that AWS refuses. Pages are joined before
  comparing; a test pins that moto answers `MaxResults` 5 in one page and
  the simulator in pages of 5.
- RDS page size: moto honours `MaxRecords` (20 gives pages of 20 and 10 on
  both sides, compared), but takes values below 20 that AWS refuses with
  InvalidParameterValue; pinned by a test of its own.
- Gateway endpoints: moto says `privateDnsEnabled` true for the S3 gateway
  endpoint; AWS has no private DNS on a gateway endpoint (false). The
  fleet leaves the flag out for gateway endpoints, so the simulator
  says false. The exporter never sees it: the filter keeps only Secrets
  Manager endpoints.
- `MasterUserSecret.SecretArn`: both name a secret `rds!db-<uuid>` or
  `rds!cluster-<uuid>` that RDS created in Secrets Manager (moto creates it
  too, with `OwningService` rds); the fleet holds moto's secrets by name, so
  the secret's name is compared, not the random six characters after it.
  `KmsKeyId` (moto names a key it made; AWS the `aws/secretsmanager` key
  when none was given) and `SecretStatus` are not read by the exporter and
  not compared.
- The secrets RDS creates: moto creates them (`OwningService` rds, tags
  `aws:rds:primaryDB...Arn`) without rotation, where AWS turns rotation on
  every 7 days; the fleet copies name, description and creation only, and
  only the secrets' names are compared (their verdicts are the Secrets
  Manager parity tests' business).
- A read replica of a managed instance carries its source's
  `MasterUserSecret` in moto; the fleet copies that (the replica's
  `master_secret` is the source's secret). The exporter does not judge
  replicas.
- States: moto's databases and interface endpoints are `available` at once
  (AWS: `creating` and `pending` first); the fleet copies moto's states.
- Not read by the exporter and not compared: moto's engine versions
  (postgres 9.3.3, aurora-postgresql 12.7, mysql 5.6.21, versions RDS no
  longer offers), its `DbiResourceId` (the same for every instance), its
  `dhcpOptionsId` (`default`, not `dopt-...`) and its endpoints without
  subnets, network interfaces or security groups.
- What moto cannot build, so the simulator-based tests alone cover it: RDS
  Custom (`CreateDBInstance` with `custom-sqlserver-ee` answers HTTP 500, as
  it does for `mariadb`),
  VPCs another account shares (moto's `ownerId` is always the caller), and
  endpoints in any state but `available`.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from harness import AwsEndpoint, run_check, running_moto_server, running_simulator
from test_lambda import ACCOUNT, REGION, QuotingDumper
from test_ssm import client, write_fleet

SERVICE_PREFIX = f"com.amazonaws.{REGION}."
SECRETS_MANAGER = f"{SERVICE_PREFIX}secretsmanager"
RDS_PAGE = 100
EC2_PAGE = 1000
SHORT_RDS_PAGE = 20
SHORT_EC2_PAGE = 5
PASSWORD = "typed-by-hand-1"
EXEMPT_TAG = "rotation-exempt"
# The reasons `check` gives for a database it does not judge.
NO_MASTER_PASSWORD = "the engine has no master password"
READ_REPLICA = "a read replica has its source's master password"


@dataclass(frozen=True)
class PlannedDatabase:
    identifier: str
    kind: str = "instance"
    engine: str = "postgres"
    # ManageMasterUserPassword; otherwise a MasterUserPassword (none for Neptune, members, replicas).
    managed: bool = False
    member_of: str | None = None
    replica_of: str | None = None


DATABASES = (
    PlannedDatabase("orders", managed=True),
    PlannedDatabase("reporting"),
    PlannedDatabase("orders-replica", replica_of="orders"),
    PlannedDatabase("ledger", kind="cluster", engine="aurora-postgresql", managed=True),
    PlannedDatabase("ledger-1", engine="aurora-postgresql", member_of="ledger"),
    PlannedDatabase("ledger-2", engine="aurora-postgresql", member_of="ledger"),
    PlannedDatabase("legacy-ledger", kind="cluster", engine="aurora-mysql"),
    PlannedDatabase("graph", kind="cluster", engine="neptune"),
    PlannedDatabase("inventory", engine="sqlserver-ee", managed=True),
    # Enough that MaxRecords 20 takes two pages; every other one managed.
    *(PlannedDatabase(f"bulk-{index:02d}", engine="mysql", managed=index % 2 == 0) for index in range(25)),
)
INSTANCES = tuple(database for database in DATABASES if database.kind == "instance")
CLUSTERS = tuple(database for database in DATABASES if database.kind == "cluster")


def planned_database_verdict(database: PlannedDatabase) -> dict[str, Any] | None:
    """What `check` must say of a database; None: not in the report (a cluster member)."""
    if database.member_of:
        return None
    row: dict[str, Any] = {"kind": database.kind, "engine": database.engine}
    if database.engine == "neptune":
        return {**row, "compliant": None, "not_applicable": NO_MASTER_PASSWORD}
    if database.replica_of:
        return {**row, "compliant": None, "not_applicable": READ_REPLICA}
    return {**row, "compliant": database.managed, "not_applicable": None}


@dataclass(frozen=True)
class PlannedEndpoint:
    service: str = "secretsmanager"
    type: str = "Interface"
    private_dns: bool = True


@dataclass(frozen=True)
class PlannedVpc:
    # Its `Name` tag; `default` is the VPC moto makes by itself.
    name: str
    endpoints: tuple[PlannedEndpoint, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    # `secretsmanager_endpoint` with include_default_vpcs off: True / False, or why not judged.
    verdict: bool | str = False


DEFAULT = "default"
VPCS = (
    PlannedVpc(DEFAULT, verdict="default_vpc"),
    PlannedVpc("payments", endpoints=(PlannedEndpoint(),), tags={"team": "payments"}, verdict=True),
    PlannedVpc("identity", endpoints=(PlannedEndpoint(private_dns=False),), verdict=False),
    PlannedVpc(
        "billing",
        endpoints=(PlannedEndpoint(private_dns=False), PlannedEndpoint(), PlannedEndpoint("s3", "Gateway")),
        verdict=True,
    ),
    PlannedVpc("analytics", endpoints=(PlannedEndpoint("s3", "Gateway"),), verdict=False),
    PlannedVpc("batch", verdict=False),
    PlannedVpc(
        "sandbox", tags={EXEMPT_TAG: "dev VPC, reaches Secrets Manager through NAT"}, verdict="exempt"
    ),
)
BY_VPC_NAME = {vpc.name: vpc for vpc in VPCS}


def planned_vpc_verdict(vpc: PlannedVpc, *, include_default: bool) -> bool | str:
    if vpc.name == DEFAULT and include_default:
        return False
    return vpc.verdict


def build_in_moto(endpoint: AwsEndpoint) -> None:
    rds = client(endpoint, "rds")
    for database in CLUSTERS:
        request: dict[str, Any] = {"DBClusterIdentifier": database.identifier, "Engine": database.engine}
        if database.engine != "neptune":
            request["MasterUsername"] = "admin"
            if database.managed:
                request["ManageMasterUserPassword"] = True
            else:
                request["MasterUserPassword"] = PASSWORD
        rds.create_db_cluster(**request)
    for database in INSTANCES:
        if database.replica_of:
            rds.create_db_instance_read_replica(
                DBInstanceIdentifier=database.identifier, SourceDBInstanceIdentifier=database.replica_of
            )
            continue
        request = {
            "DBInstanceIdentifier": database.identifier,
            "Engine": database.engine,
            "DBInstanceClass": "db.r6g.large" if database.member_of else "db.t3.micro",
        }
        if database.member_of:
            request["DBClusterIdentifier"] = database.member_of
        else:
            request.update(AllocatedStorage=20, MasterUsername="admin")
            if database.managed:
                request["ManageMasterUserPassword"] = True
            else:
                request["MasterUserPassword"] = PASSWORD
        rds.create_db_instance(**request)
    ec2 = client(endpoint, "ec2")
    for index, vpc in enumerate(VPCS):
        if vpc.name == DEFAULT:
            continue
        vpc_id = ec2.create_vpc(CidrBlock=f"10.{index}.0.0/16")["Vpc"]["VpcId"]
        tags = {"Name": vpc.name, **vpc.tags}
        ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        for planned in vpc.endpoints:
            request = {
                "VpcId": vpc_id,
                "VpcEndpointType": planned.type,
                "ServiceName": SERVICE_PREFIX + planned.service,
            }
            if planned.type == "Interface":
                request["PrivateDnsEnabled"] = planned.private_dns
            ec2.create_vpc_endpoint(**request)


# --- reading, as the exporter reads -----------------------------------------------------------


def rds_pages(rds: Any, operation: str, key: str, size: int) -> tuple[list[dict[str, Any]], list[int]]:
    entries: list[dict[str, Any]] = []
    sizes: list[int] = []
    marker: str | None = None
    while True:
        request: dict[str, Any] = {"MaxRecords": size}
        if marker:
            request["Marker"] = marker
        page = getattr(rds, operation)(**request)
        entries.extend(page[key])
        sizes.append(len(page[key]))
        marker = page.get("Marker")
        if not marker:
            return entries, sizes
        assert len(sizes) < 100, f"{operation} does not end"


def ec2_pages(
    operation: Any, key: str, size: int, **request: Any
) -> tuple[list[dict[str, Any]], list[int]]:
    entries: list[dict[str, Any]] = []
    sizes: list[int] = []
    token: str | None = None
    while True:
        page = operation(MaxResults=size, **request, **({"NextToken": token} if token else {}))
        entries.extend(page[key])
        sizes.append(len(page[key]))
        token = page.get("NextToken")
        if not token:
            return entries, sizes
        assert len(sizes) < 100, f"{key} does not end"


def secret_name(arn: str | None) -> str | None:
    """`arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 chars>` -> `<name>`."""
    if arn is None:
        return None
    return arn.split(":secret:", 1)[1].rsplit("-", 1)[0]


def master_secret(entry: dict[str, Any]) -> str | None:
    return secret_name((entry.get("MasterUserSecret") or {}).get("SecretArn"))


def tags_of(entry: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in entry.get("Tags") or []}


@dataclass
class Answers:
    instances: dict[str, dict[str, Any]]
    clusters: dict[str, dict[str, Any]]
    vpcs: dict[str, dict[str, Any]]
    endpoints: dict[str, dict[str, Any]]
    # Per listing: the size of each page.
    page_sizes: dict[str, list[int]]
    # Identifiers listed more than once, per listing.
    repeated: dict[str, list[str]]


def by_key(entries: list[dict[str, Any]], key: str, label: str, repeated: dict[str, list[str]]) -> list[str]:
    names = [entry[key] for entry in entries]
    repeated[label] = sorted({name for name in names if names.count(name) > 1})
    return names


def answers(endpoint: AwsEndpoint) -> Answers:
    rds, ec2 = client(endpoint, "rds"), client(endpoint, "ec2")
    sizes: dict[str, list[int]] = {}
    repeated: dict[str, list[str]] = {}
    instances, sizes["DescribeDBInstances"] = rds_pages(rds, "describe_db_instances", "DBInstances", RDS_PAGE)
    clusters, sizes["DescribeDBClusters"] = rds_pages(rds, "describe_db_clusters", "DBClusters", RDS_PAGE)
    short_instances, sizes["DescribeDBInstances 20"] = rds_pages(
        rds, "describe_db_instances", "DBInstances", SHORT_RDS_PAGE
    )
    _, sizes["DescribeDBClusters 20"] = rds_pages(rds, "describe_db_clusters", "DBClusters", SHORT_RDS_PAGE)
    vpcs, sizes["DescribeVpcs"] = ec2_pages(ec2.describe_vpcs, "Vpcs", EC2_PAGE)
    _, sizes["DescribeVpcs 5"] = ec2_pages(ec2.describe_vpcs, "Vpcs", SHORT_EC2_PAGE)
    endpoints, sizes["DescribeVpcEndpoints"] = ec2_pages(
        ec2.describe_vpc_endpoints,
        "VpcEndpoints",
        EC2_PAGE,
        Filters=[{"Name": "service-name", "Values": [SECRETS_MANAGER]}],
    )
    by_key(instances, "DBInstanceIdentifier", "DescribeDBInstances", repeated)
    paged = by_key(short_instances, "DBInstanceIdentifier", "DescribeDBInstances 20", repeated)
    assert sorted(paged) == sorted(entry["DBInstanceIdentifier"] for entry in instances)
    by_key(clusters, "DBClusterIdentifier", "DescribeDBClusters", repeated)
    by_key(vpcs, "VpcId", "DescribeVpcs", repeated)
    by_key(endpoints, "VpcEndpointId", "DescribeVpcEndpoints", repeated)
    return Answers(
        instances={
            entry["DBInstanceIdentifier"]: {
                "Engine": entry.get("Engine"),
                "DBClusterIdentifier": entry.get("DBClusterIdentifier"),
                "ReadReplicaSourceDBInstanceIdentifier": entry.get("ReadReplicaSourceDBInstanceIdentifier"),
                "MasterUserSecret": master_secret(entry),
            }
            for entry in instances
        },
        clusters={
            entry["DBClusterIdentifier"]: {
                "Engine": entry.get("Engine"),
                "MasterUserSecret": master_secret(entry),
            }
            for entry in clusters
        },
        vpcs={
            entry["VpcId"]: {
                "OwnerId": entry.get("OwnerId"),
                "IsDefault": entry.get("IsDefault"),
                "Tags": tags_of(entry),
            }
            for entry in vpcs
        },
        endpoints={
            entry["VpcEndpointId"]: {
                "VpcEndpointType": entry.get("VpcEndpointType"),
                "VpcId": entry.get("VpcId"),
                "ServiceName": entry.get("ServiceName"),
                "State": entry.get("State"),
                "PrivateDnsEnabled": entry.get("PrivateDnsEnabled"),
            }
            for entry in endpoints
        },
        page_sizes=sizes,
        repeated=repeated,
    )


def fleet_from_moto(endpoint: AwsEndpoint) -> dict[str, Any]:
    """A simulator fleet holding what moto answers: databases, VPCs and endpoints, and the
    secrets RDS made for managed passwords."""
    rds, ec2 = client(endpoint, "rds"), client(endpoint, "ec2")
    secretsmanager = client(endpoint, "secretsmanager")
    secrets = secretsmanager.list_secrets()["SecretList"]
    assert "NextToken" not in secretsmanager.list_secrets(), "more secrets than one page"
    by_arn = {secret["ARN"]: secret["Name"] for secret in secrets}
    fleet_secrets = []
    for secret in secrets:
        entry: dict[str, Any] = {
            "name": secret["Name"],
            "created": secret["CreatedDate"].astimezone(UTC).isoformat(timespec="milliseconds"),
        }
        if secret.get("Description"):
            entry["description"] = secret["Description"]
        if secret.get("OwningService"):
            entry["owning_service"] = secret["OwningService"]
        fleet_secrets.append(entry)

    def database(entry: dict[str, Any], kind: str) -> dict[str, Any]:
        identifier = entry["DBClusterIdentifier" if kind == "cluster" else "DBInstanceIdentifier"]
        row: dict[str, Any] = {
            "identifier": identifier,
            "kind": kind,
            "engine": entry["Engine"],
            "engine_version": entry["EngineVersion"],
            "status": entry["Status" if kind == "cluster" else "DBInstanceStatus"],
        }
        if entry.get("MasterUsername"):
            row["master_username"] = entry["MasterUsername"]
        if kind == "instance":
            row["instance_class"] = entry["DBInstanceClass"]
            if entry.get("DBClusterIdentifier"):
                row["cluster"] = entry["DBClusterIdentifier"]
            if entry.get("ReadReplicaSourceDBInstanceIdentifier"):
                row["read_replica_of"] = entry["ReadReplicaSourceDBInstanceIdentifier"]
        arn = (entry.get("MasterUserSecret") or {}).get("SecretArn")
        if arn:
            row["managed_password"] = True
            if arn in by_arn:
                row["master_secret"] = by_arn[arn]
        if entry.get("TagList"):
            row["tags"] = {tag["Key"]: tag["Value"] for tag in entry["TagList"]}
        return row

    clusters, _ = rds_pages(rds, "describe_db_clusters", "DBClusters", RDS_PAGE)
    instances, _ = rds_pages(rds, "describe_db_instances", "DBInstances", RDS_PAGE)
    databases = [database(entry, "cluster") for entry in clusters]
    databases += [database(entry, "instance") for entry in instances]

    vpcs, _ = ec2_pages(ec2.describe_vpcs, "Vpcs", EC2_PAGE)
    # Every endpoint, not only the ones the exporter asks for.
    endpoints, _ = ec2_pages(ec2.describe_vpc_endpoints, "VpcEndpoints", EC2_PAGE)
    fleet_vpcs = []
    for vpc in vpcs:
        row = {"vpc_id": vpc["VpcId"], "cidr": vpc["CidrBlock"], "default": vpc["IsDefault"]}
        if tags_of(vpc):
            row["tags"] = tags_of(vpc)
        fleet_endpoints = []
        for endpoint_entry in endpoints:
            if endpoint_entry["VpcId"] != vpc["VpcId"]:
                continue
            service = endpoint_entry["ServiceName"]
            assert service.startswith(SERVICE_PREFIX), service
            item: dict[str, Any] = {
                "service": service.removeprefix(SERVICE_PREFIX),
                "type": endpoint_entry["VpcEndpointType"],
                "state": endpoint_entry["State"],
                "id": endpoint_entry["VpcEndpointId"],
            }
            # moto's gateway endpoints say private DNS on, which AWS's never are (docstring).
            if endpoint_entry["VpcEndpointType"] == "Interface":
                item["private_dns"] = endpoint_entry["PrivateDnsEnabled"]
            created = endpoint_entry.get("CreationTimestamp")
            if created is not None:
                item["created"] = created.astimezone(UTC).isoformat(timespec="milliseconds")
            fleet_endpoints.append(item)
        if fleet_endpoints:
            row["endpoints"] = fleet_endpoints
        fleet_vpcs.append(row)
    return {
        "base_account": ACCOUNT,
        "regions": [REGION],
        "secrets": fleet_secrets,
        "databases": databases,
        "vpcs": fleet_vpcs,
    }


def vpc_names(found: Answers) -> dict[str, str]:
    """vpc id -> its place in the plan (its Name tag, or `default`)."""
    return {
        vpc_id: DEFAULT if vpc["IsDefault"] else vpc["Tags"].get("Name", "?")
        for vpc_id, vpc in found.vpcs.items()
    }


def departures_from_plan(found: Answers) -> list[str]:
    problems = [
        f"{label}: listed more than once: {names}" for label, names in found.repeated.items() if names
    ]
    managed_instances = {database.identifier for database in INSTANCES if database.managed}
    wanted_instances = {
        database.identifier: {
            "Engine": database.engine,
            "DBClusterIdentifier": database.member_of,
            "ReadReplicaSourceDBInstanceIdentifier": database.replica_of,
            # Members have none (their cluster has); a replica has its source's.
            "MasterUserSecret": database.managed or database.replica_of in managed_instances,
        }
        for database in INSTANCES
    }
    got_instances = {
        identifier: {**entry, "MasterUserSecret": entry["MasterUserSecret"] is not None}
        for identifier, entry in found.instances.items()
    }
    if got_instances != wanted_instances:
        for identifier in sorted(set(got_instances) | set(wanted_instances)):
            if got_instances.get(identifier) != wanted_instances.get(identifier):
                problems.append(
                    f"instance {identifier}: planned {wanted_instances.get(identifier)}, "
                    f"answer {got_instances.get(identifier)}"
                )
    for identifier, entry in found.instances.items():
        secret = entry["MasterUserSecret"]
        if secret is not None and not secret.startswith("rds!db-"):
            problems.append(f"instance {identifier}: master secret {secret!r} is not rds!db-...")
    wanted_clusters = {database.identifier: (database.engine, database.managed) for database in CLUSTERS}
    got_clusters = {
        identifier: (entry["Engine"], entry["MasterUserSecret"] is not None)
        for identifier, entry in found.clusters.items()
    }
    if got_clusters != wanted_clusters:
        problems.append(f"clusters: planned {wanted_clusters}, answer {got_clusters}")
    for identifier, entry in found.clusters.items():
        secret = entry["MasterUserSecret"]
        if secret is not None and not secret.startswith("rds!cluster-"):
            problems.append(f"cluster {identifier}: master secret {secret!r} is not rds!cluster-...")
    names = vpc_names(found)
    if sorted(names.values()) != sorted(BY_VPC_NAME):
        problems.append(f"VPCs: planned {sorted(BY_VPC_NAME)}, answer {sorted(names.values())}")
    for vpc_id, vpc in found.vpcs.items():
        planned = BY_VPC_NAME.get(names[vpc_id])
        if planned is None:
            continue
        wanted = {
            "OwnerId": ACCOUNT,
            "IsDefault": planned.name == DEFAULT,
            "Tags": {} if planned.name == DEFAULT else {"Name": planned.name, **planned.tags},
        }
        if vpc != wanted:
            problems.append(f"VPC {planned.name}: planned {wanted}, answer {vpc}")
    wanted_endpoints = sorted(
        (vpc.name, endpoint.private_dns)
        for vpc in VPCS
        for endpoint in vpc.endpoints
        if endpoint.service == "secretsmanager"
    )
    got_endpoints = sorted(
        (names.get(entry["VpcId"], "?"), entry["PrivateDnsEnabled"]) for entry in found.endpoints.values()
    )
    if got_endpoints != wanted_endpoints:
        problems.append(f"Secrets Manager endpoints: planned {wanted_endpoints}, answer {got_endpoints}")
    for endpoint_id, entry in found.endpoints.items():
        wanted_entry = {"VpcEndpointType": "Interface", "ServiceName": SECRETS_MANAGER, "State": "available"}
        if {key: entry[key] for key in wanted_entry} != wanted_entry:
            problems.append(f"endpoint {endpoint_id}: planned {wanted_entry}, answer {entry}")
    return problems


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rds_ec2_moto() -> Iterator[AwsEndpoint]:
    # A moto_server of its own, so these databases and VPCs never meet another test's.
    with running_moto_server() as endpoint:
        build_in_moto(endpoint)
        yield endpoint


@pytest.fixture(scope="module")
def simulator_fleet(rds_ec2_moto: AwsEndpoint) -> dict[str, Any]:
    return fleet_from_moto(rds_ec2_moto)


@pytest.fixture(scope="module")
def fleet_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rds-ec2")


@pytest.fixture(scope="module")
def rds_ec2_simulator(simulator_fleet: dict[str, Any], fleet_directory: Path) -> Iterator[AwsEndpoint]:
    with running_simulator(write_fleet(simulator_fleet, fleet_directory)) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def moto_answers(rds_ec2_moto: AwsEndpoint) -> Answers:
    return answers(rds_ec2_moto)


@pytest.fixture(scope="module")
def simulator_answers(rds_ec2_simulator: AwsEndpoint) -> Answers:
    return answers(rds_ec2_simulator)


def config(directory: Path, *, include_default: bool) -> Path:
    document = {
        "regions": [REGION],
        "accounts": [{"id": ACCOUNT}],
        # CloudTrail stays off: moto has no LookupEvents.
        "cloudtrail": {"enabled": False},
        "sources": {"rds": {"enabled": True}, "vpc_endpoints": {"enabled": True}},
        "policy": {"vpc_endpoint": {"include_default_vpcs": include_default}},
    }
    path = directory / f"rds-ec2-default-{'included' if include_default else 'skipped'}.yaml"
    path.write_text(yaml.dump(document, Dumper=QuotingDumper, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def reports(
    rds_ec2_moto: AwsEndpoint, rds_ec2_simulator: AwsEndpoint, fleet_directory: Path
) -> dict[tuple[str, bool], dict[str, Any]]:
    """`check` against each side with include_default_vpcs off and on, all four at once."""
    endpoints = {"moto": rds_ec2_moto, "simulator": rds_ec2_simulator}
    configs = {included: config(fleet_directory, include_default=included) for included in (False, True)}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            (side, included): pool.submit(run_check, endpoints[side], configs[included])
            for side in endpoints
            for included in (False, True)
        }
        return {key: future.result() for key, future in futures.items()}


# --- raw answers --------------------------------------------------------------------------------


def test_the_fleet_read_from_moto_holds_every_planned_database_and_vpc(
    simulator_fleet: dict[str, Any],
) -> None:
    held = sorted(
        (entry["identifier"], entry["kind"], entry["engine"]) for entry in simulator_fleet["databases"]
    )
    planned = sorted((database.identifier, database.kind, database.engine) for database in DATABASES)
    assert held == planned
    named = sorted(
        DEFAULT if entry["default"] else entry.get("tags", {}).get("Name", "?")
        for entry in simulator_fleet["vpcs"]
    )
    assert named == sorted(BY_VPC_NAME)
    managed = sum(1 for database in DATABASES if database.managed)
    rds_secrets = [secret for secret in simulator_fleet["secrets"] if secret.get("owning_service") == "rds"]
    assert len(rds_secrets) == managed, simulator_fleet["secrets"]


def test_moto_answers_as_planned(moto_answers: Answers) -> None:
    problems = departures_from_plan(moto_answers)
    assert not problems, "moto departs from the plan:\n" + "\n".join(problems)


def test_the_simulator_answers_as_planned(simulator_answers: Answers) -> None:
    problems = departures_from_plan(simulator_answers)
    assert not problems, "the simulator departs from the plan:\n" + "\n".join(problems)


def test_the_simulator_answers_the_exporters_requests_as_moto_does(
    moto_answers: Answers, simulator_answers: Answers
) -> None:
    differences: list[str] = []
    for listing in ("instances", "clusters", "vpcs", "endpoints"):
        ours, theirs = getattr(simulator_answers, listing), getattr(moto_answers, listing)
        for key in sorted(set(ours) | set(theirs)):
            if ours.get(key) != theirs.get(key):
                differences.append(
                    f"{listing} {key}:\n  moto:      {theirs.get(key)}\n  simulator: {ours.get(key)}"
                )
    assert not differences, "the simulator answers differently from moto:\n" + "\n".join(differences)


def test_rds_pages_hold_max_records_on_both_sides(moto_answers: Answers, simulator_answers: Answers) -> None:
    """30 instances: one page of 100, or pages of 20 and 10 (`Marker` followed); 3 clusters."""
    for found in (moto_answers, simulator_answers):
        assert found.page_sizes["DescribeDBInstances"] == [len(INSTANCES)]
        assert found.page_sizes["DescribeDBInstances 20"] == [SHORT_RDS_PAGE, len(INSTANCES) - SHORT_RDS_PAGE]
        assert found.page_sizes["DescribeDBClusters"] == [len(CLUSTERS)]
        assert found.page_sizes["DescribeDBClusters 20"] == [len(CLUSTERS)]


def test_ec2_pages_hold_five_in_the_simulator_and_everything_in_moto(
    moto_answers: Answers, simulator_answers: Answers
) -> None:
    """moto ignores MaxResults (docstring); pinned so a moto that honours it shows."""
    assert simulator_answers.page_sizes["DescribeVpcs 5"] == [SHORT_EC2_PAGE, len(VPCS) - SHORT_EC2_PAGE]
    assert moto_answers.page_sizes["DescribeVpcs 5"] == [len(VPCS)]
    for found in (moto_answers, simulator_answers):
        assert found.page_sizes["DescribeVpcs"] == [len(VPCS)]
        assert len(found.page_sizes["DescribeVpcEndpoints"]) == 1


def short_page(endpoint: AwsEndpoint) -> dict[str, Any]:
    try:
        page = client(endpoint, "rds").describe_db_instances(MaxRecords=10)
    except ClientError as error:
        return {
            "error": error.response["Error"]["Code"],
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    return {"entries": len(page["DBInstances"])}


def test_max_records_below_twenty_is_refused_by_the_simulator_and_served_by_moto(
    rds_ec2_moto: AwsEndpoint, rds_ec2_simulator: AwsEndpoint
) -> None:
    """AWS takes MaxRecords 20 to 100; moto serves 10 (docstring)."""
    assert short_page(rds_ec2_moto) == {"entries": 10}
    assert short_page(rds_ec2_simulator) == {"error": "InvalidParameterValue", "status": 400}


def test_moto_says_private_dns_on_a_gateway_endpoint_and_the_simulator_does_not(
    rds_ec2_moto: AwsEndpoint, rds_ec2_simulator: AwsEndpoint
) -> None:
    found = {}
    for side, endpoint in (("moto", rds_ec2_moto), ("simulator", rds_ec2_simulator)):
        listed, _ = ec2_pages(client(endpoint, "ec2").describe_vpc_endpoints, "VpcEndpoints", EC2_PAGE)
        found[side] = {
            entry["PrivateDnsEnabled"] for entry in listed if entry["VpcEndpointType"] == "Gateway"
        }
    assert found == {"moto": {True}, "simulator": {False}}


# --- verdicts -----------------------------------------------------------------------------------


def database_rows(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for row in report.get("databases", []):
        key = (row["db_identifier"], row["kind"])
        assert key not in rows, f"{key} reported twice"
        rows[key] = {
            "kind": row["kind"],
            "engine": row["engine"],
            "compliant": row["compliant"],
            "not_applicable": row.get("not_applicable"),
        }
    return rows


def vpc_rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for row in report.get("vpcs", []):
        assert row["vpc_id"] not in rows, f"{row['vpc_id']} reported twice"
        rows[row["vpc_id"]] = {
            "is_default": row["is_default"],
            "endpoints": row["endpoints"],
            "verdict": row["verdict"],
        }
    return rows


def verdict_kind(verdict: dict[str, Any] | str) -> bool | str:
    """`{"judged": {"compliant": ...}}` -> the verdict; `{"skipped": ...}` -> why."""
    if isinstance(verdict, dict) and "judged" in verdict:
        return verdict["judged"]["compliant"]
    skipped = verdict["skipped"] if isinstance(verdict, dict) else verdict
    return skipped if isinstance(skipped, str) else next(iter(skipped))


@pytest.mark.parametrize("include_default", [False, True], ids=["default-skipped", "default-included"])
@pytest.mark.parametrize("side", ["moto", "simulator"])
def test_every_database_and_vpc_is_judged_as_planned(
    side: str, include_default: bool, reports: dict[tuple[str, bool], dict[str, Any]], moto_answers: Answers
) -> None:
    report = reports[(side, include_default)]
    down = [target for target in report["targets"] if not target["up"]]
    assert not down, f"targets down against {side}: {down}"
    departures = []
    wanted_databases = {
        (database.identifier, database.kind): verdict
        for database in DATABASES
        if (verdict := planned_database_verdict(database)) is not None
    }
    found = database_rows(report)
    for key in sorted(set(found) | set(wanted_databases)):
        if found.get(key) != wanted_databases.get(key):
            departures.append(
                f"database {key}: planned {wanted_databases.get(key)}, {side} said {found.get(key)}"
            )
    names = vpc_names(moto_answers)
    vpcs = vpc_rows(report)
    got_vpcs = {names.get(vpc_id, vpc_id): verdict_kind(row["verdict"]) for vpc_id, row in vpcs.items()}
    wanted_vpcs = {vpc.name: planned_vpc_verdict(vpc, include_default=include_default) for vpc in VPCS}
    if got_vpcs != wanted_vpcs:
        departures.append(f"VPCs: planned {wanted_vpcs}, {side} said {got_vpcs}")
    assert not departures, f"against {side}, the verdicts depart from the plan:\n" + "\n".join(departures)
    assert report["summary"]["databases"] == {
        "listed": len(wanted_databases),
        "noncompliant": sum(1 for verdict in wanted_databases.values() if verdict["compliant"] is False),
    }
    assert report["summary"]["vpcs"] == {
        "listed": len(VPCS),
        "noncompliant": sum(1 for verdict in wanted_vpcs.values() if verdict is False),
    }


@pytest.mark.parametrize("include_default", [False, True], ids=["default-skipped", "default-included"])
def test_moto_and_the_simulator_give_the_same_verdicts(
    include_default: bool, reports: dict[tuple[str, bool], dict[str, Any]]
) -> None:
    moto, simulator = reports[("moto", include_default)], reports[("simulator", include_default)]
    differences = []
    for label, rows in (("database", database_rows), ("VPC", vpc_rows)):
        theirs, ours = rows(moto), rows(simulator)
        for key in sorted(set(theirs) | set(ours)):
            if theirs.get(key) != ours.get(key):
                differences.append(
                    f"{label} {key}:\n  moto:      {theirs.get(key)}\n  simulator: {ours.get(key)}"
                )
    assert not differences, "the verdicts differ between moto and the simulator:\n" + "\n".join(differences)
    for part in ("databases", "vpcs"):
        assert moto["summary"][part] == simulator["summary"][part], part
    secrets = {
        side: sorted(row["name"] for row in report["secrets"])
        for side, report in (("moto", moto), ("simulator", simulator))
    }
    assert secrets["moto"] == secrets["simulator"]


def test_the_plan_passes_and_fails_each_check() -> None:
    """So the comparison cannot pass by judging everything alike."""
    databases = {
        str(verdict["compliant"] if verdict["not_applicable"] is None else "not judged")
        for database in DATABASES
        if (verdict := planned_database_verdict(database)) is not None
    }
    assert databases == {"True", "False", "not judged"}
    vpcs = {planned_vpc_verdict(vpc, include_default=False) for vpc in VPCS}
    assert vpcs == {True, False, "default_vpc", "exempt"}
