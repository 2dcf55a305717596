"""Respondents as clusters of linked interviews (docs/spec/respondent-matching.md §10.2).

Runs inside the caller's transaction; nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from ..store import Tx

__all__ = ["recluster"]


def _component(tx: Tx, seed: uuid.UUID) -> set[uuid.UUID]:
    """The interviews connected to ``seed`` by links in force."""
    seen = {seed}
    todo = [seed]
    while todo:
        r = todo.pop()
        for link in tx.links.in_force(r):
            other = link.b if link.a == r else link.a
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


def recluster(tx: Tx, seeds: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Give every interview connected (by links in force) to a seed the cluster id of
    its component: the respondent id of the component's earliest-registered interview
    (§10.2). Returns record id → cluster id for the seeds' components."""
    out: dict[uuid.UUID, uuid.UUID] = {}
    for seed in seeds:
        if seed in out:
            continue
        out.update(tx.respondents.recluster(_component(tx, seed)))
    return out
