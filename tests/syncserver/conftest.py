"""Fixtures for server tests: a project in tmp_path, unlocked with a cheap KDF."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import FAST_KDF, SECRET

from syncserver.project import Project, init_project


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    p = init_project(tmp_path / "proj", SECRET, kdf=FAST_KDF, actor="cli:tester")
    try:
        yield p
    finally:
        p.close()
