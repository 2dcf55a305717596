"""Published forms, and the project's own facts (``meta``: its id and public keys).

Row types and the repository interface every backend implements (the SQLite one is
:mod:`syncserver.store.sqlite`)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["FormsRepo", "MetaRepo"]


class FormsRepo(Protocol):
    """(filled in as the code that uses it moves behind the store)"""


class MetaRepo(Protocol):
    """(filled in as the code that uses it moves behind the store)"""
