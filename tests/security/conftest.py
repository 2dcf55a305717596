"""Fixtures for the threat model's own tests (docs/threat-model.md): the suite's project
with the shipped form published, and the real server on 127.0.0.1 (port 0), both from
``tests/support/``. Helpers live in ``security_helpers``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from security_helpers import FORM, Server, now
from support.server import serve

from syncserver.forms import publish_form
from syncserver.project import Project


@pytest.fixture
def project(project: Project) -> Project:
    """The suite's project (``support.project``), with the shipped form published."""
    publish_form(project, FORM, now=now(), actor="cli:tester")
    return project


@pytest_asyncio.fixture
async def server(project: Project) -> AsyncIterator[Server]:
    async with serve(project) as srv:
        yield Server(srv.project, srv.base, srv.session, srv.app)
