"""Session fixtures: one moto_server and one aws-simulator serve every parity test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness import FLEET_FILE, AwsEndpoint, running_moto_server, running_simulator


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[AwsEndpoint]:
    with running_moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def simulator_endpoint() -> Iterator[AwsEndpoint]:
    with running_simulator(FLEET_FILE) as endpoint:
        yield endpoint
