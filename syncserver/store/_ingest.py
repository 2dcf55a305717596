"""Uploads announced and in progress, bundles received, the records merged from them and
what went to quarantine.

Row types and the repository interface every backend implements (the SQLite one is
:mod:`syncserver.store.sqlite`)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["UploadsRepo", "BundlesRepo", "RecordsRepo", "QuarantineRepo"]


class UploadsRepo(Protocol):
    """(filled in as the code that uses it moves behind the store)"""


class BundlesRepo(Protocol):
    """(filled in as the code that uses it moves behind the store)"""


class RecordsRepo(Protocol):
    """(filled in as the code that uses it moves behind the store)"""


class QuarantineRepo(Protocol):
    """(filled in as the code that uses it moves behind the store)"""
