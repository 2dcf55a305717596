"""A project on disk: configuration, sealed identity, store (docs/spec/api-v1.md §8).

DIR/sealsync.toml     configuration (no secrets)
DIR/identity.sealed   the project's private keys, encrypted
DIR/store.db          the SQLite store (WAL)
DIR/blobs/            raw bundles, content-addressed
DIR/uploads/          uploads in progress

(With ``[store] url = "postgresql://…"`` the store, the bundles and the uploads are all in
the database: :attr:`Project.blobs`.)
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .._time import ms, now
from ..audit.entries import AuditEntry, append, mac_key
from ..errors import ProjectExists, ProjectMissing
from ..store import Store, Tx, open_store
from ..store.blobs import Blobs, open_blobs
from .config import CONFIG_NAME, Config, load_config, render_config
from .keys import KdfParams, ProjectIdentity, Secret, load_identity, save_identity

__all__ = ["IDENTITY_NAME", "Project", "init_project", "open_project"]

IDENTITY_NAME = "identity.sealed"


@dataclass
class Project:
    config: Config
    identity: ProjectIdentity
    store: Store

    @property
    def project_id(self) -> uuid.UUID:
        return self.identity.project_id

    @property
    def log_origin(self) -> str:
        return f"sealsync/{self.project_id}"

    @cached_property
    def blobs(self) -> Blobs:
        """Uploads in progress and received bundles, where ``[store] url`` keeps them
        (``DIR/uploads`` and ``DIR/blobs`` beside SQLite; the PostgreSQL database);
        opened on first use, closed with the project."""
        return open_blobs(self.config.store.url, self.config.root)

    def close(self) -> None:
        blobs = self.__dict__.pop("blobs", None)
        if blobs is not None:
            blobs.close()
        self.store.close()


def _store(config: Config, identity: ProjectIdentity) -> Store:
    """The project's store, opened with the audit log's MAC key (audit-log-v1.md §14.3)."""
    return open_store(config.store.url, config.root, audit_key=mac_key(identity.store_key))


def init_project(
    directory: Path,
    secret: Secret,
    *,
    actor: str,
    kdf: KdfParams | None = None,
    config: Config | None = None,
) -> Project:
    """Create a project in ``directory`` (new or empty) and return it, open. ``actor``
    names who created it in the ``init`` entry (``cli:<user>``)."""
    if (directory / CONFIG_NAME).exists() or (directory / IDENTITY_NAME).exists():
        raise ProjectExists(
            f"{directory} already holds a project",
            hint="choose another directory; a project is never overwritten",
        )
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    (directory / "blobs").mkdir(mode=0o700, exist_ok=True)
    config = config or Config()
    config = Config(
        project_dir=str(directory),
        store=config.store,
        server=config.server,
        limits=config.limits,
        devices=config.devices,
        respondents=config.respondents,
    )
    identity = ProjectIdentity.generate()
    save_identity(directory / IDENTITY_NAME, identity, secret, kdf=kdf)
    tmp = directory / (CONFIG_NAME + ".tmp")
    tmp.write_text(render_config(config), encoding="utf-8")
    os.replace(tmp, directory / CONFIG_NAME)
    store = _store(config, identity)
    at_ms = ms(now())

    def setup(tx: Tx) -> None:
        tx.meta.set_project(
            identity.project_id,
            recipient_public=identity.recipient_public.raw,
            signing_public=identity.signing_public_bytes(),
        )
        append(
            tx,
            AuditEntry(kind="init", at_ms=at_ms, actor=actor, subject=str(identity.project_id)),
        )

    store.write_sync(setup)
    return Project(config=load_config(directory, env={}), identity=identity, store=store)


def open_project(directory: Path, secret: Secret) -> Project:
    """Open an existing project; the secret unlocks its identity."""
    if not (directory / CONFIG_NAME).exists():
        raise ProjectMissing(
            f"no project in {directory}", hint="create one with `syncserver init DIR`"
        )
    config = load_config(directory)
    identity = load_identity(directory / IDENTITY_NAME, secret)
    store = _store(config, identity)
    return Project(config=config, identity=identity, store=store)
