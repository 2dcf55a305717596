"""A project opened without its secret, for the commands that only read.

``syncserver forms list``, ``devices list``, ``tokens list``, ``quarantine list`` and
``show``, ``conflicts list`` and ``records show`` (without sensitive answers) read tables
that are not encrypted: they need the configuration and the store, never the project's
keys. :func:`open_read_only` gives them a :class:`ReadOnlyProject`: the store is never
opened for writing (every read runs on a read-only SQLite connection, and a write fails),
and asking it for the identity is an error that names what to do instead.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from ..errors import IdentityError, ProjectMissing, StoreError
from ..store import Store, open_store
from ._project import Project
from .config import CONFIG_NAME, Config, load_config
from .keys import ProjectIdentity

__all__ = ["ReadOnlyProject", "open_read_only"]


class ReadOnlyProject(Project):
    """A :class:`~syncserver.project.Project` with its configuration and a read-only
    store, and no identity."""

    def __init__(self, config: Config, store: Store, project_id: uuid.UUID) -> None:
        self.config = config
        self.store = store
        self._project_id = project_id

    @property
    def identity(self) -> ProjectIdentity:
        raise IdentityError(
            "this command opened the project without its secret",
            hint="it only reads; a command that signs, decrypts or writes asks for the secret",
        )

    @identity.setter
    def identity(self, value: ProjectIdentity) -> None:
        raise AttributeError("a read-only project has no identity")

    @property
    def project_id(self) -> uuid.UUID:
        return self._project_id

    def __repr__(self) -> str:
        return f"ReadOnlyProject({self._project_id})"


def open_read_only(directory: Path) -> ReadOnlyProject:
    """Open the project in ``directory`` for reading: no secret, no write, no migration."""
    if not (directory / CONFIG_NAME).exists():
        raise ProjectMissing(
            f"no project in {directory}", hint="create one with `syncserver init DIR`"
        )
    config = load_config(directory)
    store = open_store(config.store.url, config.root, readonly=True)

    try:
        project_id = store.read_sync(lambda tx: tx.meta.project_id())
        if project_id is None:
            raise StoreError("the store names no project", hint="restore it from a backup")
    except BaseException:
        store.close()
        raise
    return ReadOnlyProject(config, store, project_id)
