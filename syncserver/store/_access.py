"""Who may act: devices and their certificates, one-time enrollment tokens, role-scoped
admin tokens.

Row types and the repository interface every backend implements (the SQLite one is
:mod:`syncserver.store.sqlite`)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["DevicesRepo", "EnrollTokensRepo", "AdminTokensRepo"]


class DevicesRepo(Protocol):
    """(filled in as the code that uses it moves behind the store)"""


class EnrollTokensRepo(Protocol):
    """(filled in as the code that uses it moves behind the store)"""


class AdminTokensRepo(Protocol):
    """(filled in as the code that uses it moves behind the store)"""
