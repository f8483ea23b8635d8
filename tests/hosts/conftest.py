"""Fixtures for tests against real git servers: a scratch directory other accounts can enter,
and the live gate server with the reviewer who signs off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import LiveServer, add_reviewer
from tests.support.servers import host_dir, host_gate


@pytest.fixture
def scratch() -> Iterator[Path]:
    with host_dir("host") as path:
        yield path


@pytest.fixture
def gate_server(server: LiveServer) -> LiveServer:
    add_reviewer(server.app, "alice")
    return server


@pytest.fixture(scope="session")
def gate_bin() -> Iterator[Path]:
    """gate and python as the git accounts run them."""
    with host_gate() as path:
        yield path
