"""Respondents' keyed pseudonyms, their postings, links and the review queue.

Row types and the repository interface every backend implements (the SQLite one is
:mod:`syncserver.store.sqlite`)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["RespondentsRepo"]


class RespondentsRepo(Protocol):
    """(filled in as the code that uses it moves behind the store)"""
