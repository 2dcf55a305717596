"""The one way a test makes a project: :func:`new_project`, and the ``project`` fixture
built on it (registered for the whole suite by ``tests/conftest.py``).

A test project is cheap and synthetic: its identity is sealed under :data:`SECRET` with
:data:`FAST_KDF` (or under a random key file, for a ``syncserver`` child process that
opens it with ``--key-file``), its ``init`` entry is written by :data:`ACTOR`, and the
shipped form is published in it if asked. The store it uses is chosen in one place,
:func:`store_config`: every project the suite makes goes through it, so that the suite
can later run over another backend by changing that function (or parametrizing it).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from schemas.forms import shipped_form
from syncserver.forms import publish_form
from syncserver.project import Project, init_project, open_project
from syncserver.project.config import Config
from syncserver.project.keys import KdfParams, Secret

__all__ = [
    "ACTOR",
    "FAST_KDF",
    "FORM",
    "NOW",
    "SECRET",
    "init_by_cli",
    "new_project",
    "project",
    "reopen",
    "store_config",
]

#: Fast Argon2id for tests only; production uses the defaults (about 0.4 s).
FAST_KDF = KdfParams(memory_kib=1024, iterations=1, lanes=1)
SECRET = Secret(passphrase="synthetic test passphrase")
#: A fixed "now" for tests whose outcome must not depend on the clock.
NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)
#: Who the tests' set-up acts as, in the audit log.
ACTOR = "cli:tester"
#: The shipped form a project publishes with ``publish=True``.
FORM = shipped_form("escapee-interview")


def store_config(tmp_path: Path) -> Config:
    """The configuration of the store every test project uses, for a project made in
    ``tmp_path``. Only its ``store`` is used: today the embedded default, SQLite in the
    project directory. This is the one place to choose the backend the suite's projects
    run on; a backend that needs a schema per project (``support.postgres``) can make
    one here, named after ``tmp_path`` (a directory of its own), and drop it when the
    session ends, since the project outlives this call."""
    return Config()


def new_project(
    root: Path,
    *,
    key_file: Path | None = None,
    config: Config | None = None,
    publish: bool = False,
    published_at: datetime.datetime | None = None,
    actor: str = ACTOR,
) -> Project:
    """A new project in ``root``, open (the caller closes it).

    Its secret is :data:`SECRET` (a passphrase under :data:`FAST_KDF`), or with
    ``key_file`` 32 random bytes written to that file (what ``syncserver --key-file``
    reads: for a project a child process opens). ``config`` sets the rest; its store, if
    left at the default, is the one :func:`store_config` chooses (a test about one
    particular store names it). With ``publish`` the shipped form (:data:`FORM`) is
    published, at ``published_at`` (default: now)."""
    config = config or Config()
    if config.store == Config().store:
        config = msgspec.structs.replace(config, store=store_config(root).store)
    if key_file is None:
        project = init_project(root, SECRET, kdf=FAST_KDF, config=config, actor=actor)
    else:
        key_file.write_bytes(os.urandom(32))
        secret = Secret(key_file=key_file.read_bytes())
        project = init_project(root, secret, config=config, actor=actor)
    if publish:
        when = published_at or datetime.datetime.now(datetime.UTC)
        publish_form(project, FORM, now=when, actor=actor)
    return project


def init_by_cli(root: Path, key_file: Path) -> None:
    """A project made in ``root`` as an operator makes one, ``syncserver init ROOT
    --key-file KEY_FILE`` (run in-process; 32 random bytes written to ``key_file``), for
    tests of the command line: its ``init`` entry names the login user, and what the
    command prints is left for the caller's ``capsys``. Its store is the command's
    default: ``syncserver init`` takes no store setting, so :func:`store_config` cannot
    reach it yet."""
    from syncserver.cli import main

    key_file.write_bytes(os.urandom(32))
    assert main(["init", str(root), "--key-file", str(key_file)]) == 0


def reopen(root: Path, *, key_file: Path | None = None) -> Project:
    """The project in ``root`` opened again, with the secret :func:`new_project` gave it
    (:data:`SECRET`, or the key in ``key_file``)."""
    secret = SECRET if key_file is None else Secret(key_file=key_file.read_bytes())
    return open_project(root, secret)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """A new project in ``tmp_path / "proj"`` (no form published), closed afterwards. A
    folder whose tests all need the form overrides it (``tests/security/conftest.py``)."""
    p = new_project(tmp_path / "proj")
    try:
        yield p
    finally:
        p.close()
