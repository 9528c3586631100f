"""Organizations discovery finds the same accounts in moto as in our aws-simulator.

The exporter's `discovery.organizations` walks the organization's tree with
ListRoots, ListOrganizationalUnitsForParent, ListAccountsForParent and
ListTagsForResource. The simulator answers those for every discovery test we
write ourselves, so a simulator that drifted from AWS (a unit's children, an
account's State, tags, pagination) would let them all pass. Here moto, built
through the real write API (CreateOrganization, CreateOrganizationalUnit,
CreateAccount, MoveAccount, TagResource, CloseAccount), is the second opinion.

The simulator's fleet is derived from what moto answers, not from the plan
below, so the comparison tests the simulator's answers against moto's; the
expected accounts are computed from the plan alone, so both sides are also
checked against what the config asks for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from fleet_in_moto import READER_ROLE
from harness import AwsEndpoint, run_check, running_moto_server, running_simulator

REGION = "us-east-1"
ACCOUNT_TAG = "cost-center"
# AWS names every organization's root "Root"; moto and the simulator too. The
# expected paths spell it here rather than read it from either server.
ROOT_NAME = "Root"
# moto's default account, the one any credentials belong to: the management
# account once it creates the organization.
MANAGEMENT_ACCOUNT = "123456789012"
# Listings are read one entry a page, so NextToken is followed on both servers
# (ListTagsForResource takes no MaxResults).
ONE_PER_PAGE = 1


@dataclass(frozen=True)
class PlannedAccount:
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    # Closed through CloseAccount: no longer active, so never a target.
    closed: bool = False


@dataclass(frozen=True)
class PlannedUnit:
    name: str
    accounts: tuple[PlannedAccount, ...] = ()
    units: tuple[PlannedUnit, ...] = ()


# Three levels below the root (Workloads > Prod > Legacy), accounts at every
# level, under the root itself too, one closed and one tagged with a key the
# config does not copy. The config includes Workloads and excludes Legacy and
# payments-dev, so each of include, exclude, inactive and tag selection decides
# about at least one account.
ROOT_ACCOUNTS = (PlannedAccount("shared-services", tags={ACCOUNT_TAG: "100"}),)
UNITS = (
    PlannedUnit(
        "Workloads",
        accounts=(PlannedAccount("workloads-tooling", tags={ACCOUNT_TAG: "200", "team": "platform"}),),
        units=(
            PlannedUnit(
                "Prod",
                accounts=(
                    PlannedAccount("payments-prod", tags={ACCOUNT_TAG: "300"}),
                    PlannedAccount("search-prod"),
                    PlannedAccount("retired-prod", tags={ACCOUNT_TAG: "300"}, closed=True),
                ),
                units=(PlannedUnit("Legacy", accounts=(PlannedAccount("legacy-billing"),)),),
            ),
            PlannedUnit(
                "Dev",
                accounts=(
                    PlannedAccount("payments-dev", tags={ACCOUNT_TAG: "300"}),
                    PlannedAccount("search-dev", tags={"team": "search"}),
                ),
            ),
        ),
    ),
    PlannedUnit("Sandbox", accounts=(PlannedAccount("sandbox-alice"),)),
)
INCLUDED_UNIT = ("Workloads",)
EXCLUDED_UNIT = ("Workloads", "Prod", "Legacy")
EXCLUDED_ACCOUNT = "payments-dev"


@dataclass
class BuiltOrganization:
    """The ids moto chose for the plan: they are random, so read back after each create."""

    management_account: str
    root_id: str
    unit_ids: dict[tuple[str, ...], str]
    account_ids: dict[str, str]


def organizations_client(endpoint: AwsEndpoint) -> Any:
    return boto3.client(
        "organizations",
        region_name=REGION,
        endpoint_url=endpoint.url,
        aws_access_key_id=endpoint.access_key_id,
        aws_secret_access_key=endpoint.secret_access_key,
    )


def build_in_moto(organizations: Any) -> BuiltOrganization:
    """Creates the plan through the write API, as an administrator would."""
    created = organizations.create_organization(FeatureSet="ALL")["Organization"]
    (root,) = organizations.list_roots()["Roots"]
    built = BuiltOrganization(
        management_account=created["MasterAccountId"], root_id=root["Id"], unit_ids={}, account_ids={}
    )

    def add_account(planned: PlannedAccount, parent_id: str) -> None:
        status = organizations.create_account(AccountName=planned.name, Email=f"{planned.name}@example.com")[
            "CreateAccountStatus"
        ]
        # AWS creates accounts asynchronously; moto finishes at once. A status
        # other than SUCCEEDED would mean moto changed, not that we should wait.
        assert status["State"] == "SUCCEEDED", status
        account_id = status["AccountId"]
        built.account_ids[planned.name] = account_id
        if parent_id != built.root_id:
            organizations.move_account(
                AccountId=account_id, SourceParentId=built.root_id, DestinationParentId=parent_id
            )
        if planned.tags:
            organizations.tag_resource(
                ResourceId=account_id, Tags=[{"Key": k, "Value": v} for k, v in planned.tags.items()]
            )
        if planned.closed:
            organizations.close_account(AccountId=account_id)

    def add_unit(planned: PlannedUnit, parent_path: tuple[str, ...], parent_id: str) -> None:
        path = (*parent_path, planned.name)
        unit = organizations.create_organizational_unit(ParentId=parent_id, Name=planned.name)
        built.unit_ids[path] = unit["OrganizationalUnit"]["Id"]
        for account in planned.accounts:
            add_account(account, built.unit_ids[path])
        for child in planned.units:
            add_unit(child, path, built.unit_ids[path])

    for account in ROOT_ACCOUNTS:
        add_account(account, built.root_id)
    for unit in UNITS:
        add_unit(unit, (), built.root_id)
    return built


def fleet_from_answers(organizations: Any) -> dict[str, Any]:
    """A simulator fleet holding what a server answers, read with the API the exporter uses.

    Read from moto it is the simulator's fleet; read back from the simulator it
    must come out the same, up to the order of listings.
    """
    description = organizations.describe_organization()["Organization"]
    (root,) = organizations.list_roots()["Roots"]
    accounts: list[dict[str, Any]] = []

    def tags_of(resource_id: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        for page in organizations.get_paginator("list_tags_for_resource").paginate(ResourceId=resource_id):
            tags.update({tag["Key"]: tag["Value"] for tag in page["Tags"]})
        return tags

    def accounts_in(parent_id: str) -> list[str]:
        ids: list[str] = []
        paginator = organizations.get_paginator("list_accounts_for_parent")
        for page in paginator.paginate(ParentId=parent_id, PaginationConfig={"PageSize": ONE_PER_PAGE}):
            for account in page["Accounts"]:
                ids.append(account["Id"])
                detail: dict[str, Any] = {
                    "id": account["Id"],
                    "name": account["Name"],
                    "email": account["Email"],
                    # The simulator derives Status from State, as AWS does.
                    "state": account.get("State") or account["Status"],
                }
                tags = tags_of(account["Id"])
                if tags:
                    detail["tags"] = tags
                accounts.append(detail)
        return ids

    def units_in(parent_id: str) -> list[dict[str, Any]]:
        units: list[dict[str, Any]] = []
        paginator = organizations.get_paginator("list_organizational_units_for_parent")
        for page in paginator.paginate(ParentId=parent_id, PaginationConfig={"PageSize": ONE_PER_PAGE}):
            for unit in page["OrganizationalUnits"]:
                entry: dict[str, Any] = {"name": unit["Name"], "id": unit["Id"]}
                members = accounts_in(unit["Id"])
                if members:
                    entry["accounts"] = members
                children = units_in(unit["Id"])
                if children:
                    entry["units"] = children
                tags = tags_of(unit["Id"])
                if tags:
                    entry["tags"] = tags
                units.append(entry)
        return units

    # Accounts no unit lists sit under the root in the simulator, as the
    # management account and the root's own accounts do in moto.
    accounts_in(root["Id"])
    root_entry: dict[str, Any] = {"id": root["Id"], "name": root["Name"]}
    root_tags = tags_of(root["Id"])
    if root_tags:
        root_entry["tags"] = root_tags
    organization = {
        "id": description["Id"],
        "management_account": description["MasterAccountId"],
        "root": root_entry,
        "units": units_in(root["Id"]),
        "accounts": accounts,
    }
    return {
        "base_account": description["MasterAccountId"],
        "regions": [REGION],
        "organization": organization,
    }


def organization_facts(fleet: dict[str, Any]) -> dict[str, Any]:
    """The fleet's organization as one fact per line, for a comparison that names what differs.

    Listing order is left out: moto lists units and accounts in the order they
    were created, the simulator in id order; AWS promises no order, and the
    exporter sorts what it finds.
    """
    organization = fleet["organization"]
    facts: dict[str, Any] = {
        "organization id": organization["id"],
        "management account": organization["management_account"],
        "root": organization["root"],
    }

    def visit(units: list[dict[str, Any]], parent: str) -> None:
        for unit in units:
            facts[f"unit {unit['id']}"] = {
                "name": unit["name"],
                "parent": parent,
                "accounts": sorted(unit.get("accounts", [])),
                "tags": unit.get("tags", {}),
            }
            visit(unit.get("units", []), unit["id"])

    visit(organization["units"], organization["root"]["id"])
    for account in organization["accounts"]:
        facts[f"account {account['id']}"] = account
    return facts


class QuotingDumper(yaml.SafeDumper):
    """Writes every string quoted.

    Account ids are random digits here, and one with a leading zero
    (`096695003111`) is a string to PyYAML's YAML 1.1 but an integer to a
    YAML 1.2 reader; quoted, both read it the same.
    """


QuotingDumper.add_representer(
    str, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
)


def write_yaml(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.dump(document, Dumper=QuotingDumper, sort_keys=False))
    return path


def expected_accounts(built: BuiltOrganization) -> list[dict[str, Any]]:
    """What the config should discover, from the plan and the ids alone."""
    expected: list[dict[str, Any]] = []

    def visit(unit: PlannedUnit, parent_path: tuple[str, ...]) -> None:
        path = (*parent_path, unit.name)
        watched = path[: len(INCLUDED_UNIT)] == INCLUDED_UNIT and path[: len(EXCLUDED_UNIT)] != EXCLUDED_UNIT
        for account in unit.accounts:
            if watched and not account.closed and account.name != EXCLUDED_ACCOUNT:
                expected.append(
                    {
                        "account_id": built.account_ids[account.name],
                        "account_name": account.name,
                        "ou_path": "/".join((ROOT_NAME, *path)),
                        "tags": [[k, v] for k, v in sorted(account.tags.items()) if k == ACCOUNT_TAG],
                    }
                )
        for child in unit.units:
            visit(child, path)

    for unit in UNITS:
        visit(unit, ())
    return sorted(expected, key=lambda account: account["account_id"])


@pytest.fixture(scope="module")
def org_moto_endpoint() -> Iterator[AwsEndpoint]:
    # A moto_server of its own: an organization, once created, belongs to the
    # default account for the server's life and would be in the way of any
    # other test that builds one.
    with running_moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def built(org_moto_endpoint: AwsEndpoint) -> BuiltOrganization:
    return build_in_moto(organizations_client(org_moto_endpoint))


@pytest.fixture(scope="module")
def simulator_fleet(built: BuiltOrganization, org_moto_endpoint: AwsEndpoint) -> dict[str, Any]:
    # `built` only orders the fixtures: the fleet is read from moto, never from the plan.
    return fleet_from_answers(organizations_client(org_moto_endpoint))


@pytest.fixture(scope="module")
def org_simulator_endpoint(
    simulator_fleet: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AwsEndpoint]:
    fleet_file = write_yaml(tmp_path_factory.mktemp("organization") / "fleet.yaml", simulator_fleet)
    with running_simulator(fleet_file) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def discovery_config(built: BuiltOrganization, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # No role_arn: the base credentials are the management account's on both
    # sides. CloudTrail stays off: moto has no LookupEvents.
    config = {
        "regions": [REGION],
        "cloudtrail": {"enabled": False},
        "labels": {"account_tags": [ACCOUNT_TAG]},
        "discovery": {
            "organizations": {
                "member_role_name": READER_ROLE,
                "include_ous": [built.unit_ids[INCLUDED_UNIT]],
                "exclude_ous": [built.unit_ids[EXCLUDED_UNIT]],
                "exclude_accounts": [built.account_ids[EXCLUDED_ACCOUNT]],
                "requests_per_second": 50,
            }
        },
    }
    return write_yaml(tmp_path_factory.mktemp("exporter") / "discovery.yaml", config)


@pytest.fixture(scope="module")
def reports(
    org_moto_endpoint: AwsEndpoint, org_simulator_endpoint: AwsEndpoint, discovery_config: Path
) -> dict[str, dict[str, Any]]:
    found = {
        "moto": run_check(org_moto_endpoint, discovery_config),
        "simulator": run_check(org_simulator_endpoint, discovery_config),
    }
    for side, report in found.items():
        print(f"\naccounts discovered against {side}:\n{format_accounts(report['accounts'])}")
    return found


def test_moto_holds_the_planned_organization(
    built: BuiltOrganization, simulator_fleet: dict[str, Any]
) -> None:
    """The fleet read from moto has every planned unit and account, with its state and tags.

    Without this, an account the walk missed on both sides would go unnoticed.
    """
    organization = simulator_fleet["organization"]
    assert organization["management_account"] == MANAGEMENT_ACCOUNT
    assert organization["root"] == {"id": built.root_id, "name": ROOT_NAME}

    def unit_paths(units: list[dict[str, Any]], parent: tuple[str, ...]) -> dict[tuple[str, ...], str]:
        found: dict[tuple[str, ...], str] = {}
        for unit in units:
            path = (*parent, unit["name"])
            found[path] = unit["id"]
            found.update(unit_paths(unit.get("units", []), path))
        return found

    assert unit_paths(organization["units"], ()) == built.unit_ids

    held = {
        account["id"]: (account["state"], account.get("tags", {})) for account in organization["accounts"]
    }
    planned = [*ROOT_ACCOUNTS]
    pending = list(UNITS)
    while pending:
        unit = pending.pop()
        planned.extend(unit.accounts)
        pending.extend(unit.units)
    # moto's CloseAccount goes straight to SUSPENDED, without PENDING_CLOSURE.
    planned_held = {
        built.account_ids[account.name]: ("SUSPENDED" if account.closed else "ACTIVE", account.tags)
        for account in planned
    }
    planned_held[built.management_account] = ("ACTIVE", {})
    assert held == planned_held


def test_the_simulator_answers_the_walk_as_moto_does(
    simulator_fleet: dict[str, Any], org_simulator_endpoint: AwsEndpoint
) -> None:
    """Ids, names, emails, states, tags and the tree, read back from the simulator.

    This compares the answers themselves, beyond what the exporter keeps of
    them (it drops emails, and inactive or excluded accounts entirely).
    """
    moto_facts = organization_facts(simulator_fleet)
    simulator_facts = organization_facts(fleet_from_answers(organizations_client(org_simulator_endpoint)))
    differences = [
        f"{key}:\n  moto:      {moto_facts.get(key)}\n  simulator: {simulator_facts.get(key)}"
        for key in sorted(set(moto_facts) | set(simulator_facts))
        if moto_facts.get(key) != simulator_facts.get(key)
    ]
    assert not differences, "the simulator answers differently from moto:\n" + "\n".join(differences)


def test_discovery_finds_the_same_accounts_in_moto_and_the_simulator(
    reports: dict[str, dict[str, Any]], built: BuiltOrganization
) -> None:
    moto_accounts = reports["moto"]["accounts"]
    simulator_accounts = reports["simulator"]["accounts"]
    assert moto_accounts == simulator_accounts, (
        "moto and the simulator discovered different accounts:\n"
        f"moto:\n{format_accounts(moto_accounts)}\nsimulator:\n{format_accounts(simulator_accounts)}"
    )
    expected = expected_accounts(built)
    assert moto_accounts == expected, (
        "the discovered accounts are not the ones the config asks for:\n"
        f"discovered:\n{format_accounts(moto_accounts)}\nexpected:\n{format_accounts(expected)}"
    )


def test_every_discovered_account_is_polled_and_up_on_both_sides(
    reports: dict[str, dict[str, Any]], built: BuiltOrganization
) -> None:
    expected_targets = {(account["account_id"], REGION) for account in expected_accounts(built)}
    polled: dict[str, set[tuple[str, str]]] = {}
    for side, report in reports.items():
        rows = [target for target in report["targets"] if target["source"] == "secretsmanager"]
        down = [target for target in rows if not target["up"]]
        assert not down, f"secretsmanager targets down against {side}: {down}"
        polled[side] = {(target["account_id"], target["region"]) for target in rows}
    assert polled["moto"] == polled["simulator"]
    assert polled["moto"] == expected_targets


def test_the_organizations_read_is_up_on_both_sides(reports: dict[str, dict[str, Any]]) -> None:
    for side, report in reports.items():
        rows = [target for target in report["targets"] if target["source"] == "organizations"]
        assert rows, f"no organizations row against {side}: {report['targets']}"
        assert all(row["up"] for row in rows), f"the organizations read failed against {side}: {rows}"


def format_accounts(accounts: list[dict[str, Any]]) -> str:
    if not accounts:
        return "  (none)"
    return "\n".join(
        f"  {account['account_id']}  {account['account_name'] or '-':<18}  {account['ou_path'] or '-':<22}  "
        + ",".join(f"{key}={value}" for key, value in account["tags"])
        for account in accounts
    )
