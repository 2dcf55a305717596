"""The audit log: entries with their leaf hashes and MACs, and signed checkpoints.

Row types and the repository interface every backend implements (the SQLite one is
:mod:`syncserver.store.sqlite`)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["AuditRepo", "CheckpointsRepo"]


class AuditRepo(Protocol):
    """(filled in as the code that uses it moves behind the store)"""


class CheckpointsRepo(Protocol):
    """(filled in as the code that uses it moves behind the store)"""
