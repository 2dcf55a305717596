"""Matching from the encrypted identity store (docs/spec/respondent-matching.md §11).

Routine matching never reads an identity answer back: ingest hands the matcher the
answers it has in memory. Three exceptional cases need them again, and decrypt the
current version's sealed answers with the store key, each time with one ``key_use``
audit entry that says why and how many:

- a crash between ingest and matching leaves respondents ``pending``
  (:func:`match_pending`, run when the server starts);
- a store created before respondent matching existed, or tokens of an older version
  (:func:`rebuild`);
- a new pseudonym key (:func:`rebuild` with ``everything=True``).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from schemas.survey import Form

from .._time import ms
from ..audit.entries import log_key_use
from ..project import Project
from ..records.sensitive import open_sealed
from ..store import RecordStatus, StoredRecord, Tx
from ._filing import register
from ._identity import IdentityAnswers, identity_answers, identity_roles
from ._matcher import Matcher, MatchReport
from ._pseudonyms import TOKEN_VERSION, stored_tokens

__all__ = ["BATCH", "identities", "match_pending", "rebuild"]

#: Interviews decrypted, registered and matched per round.
BATCH = 200

Progress = Callable[[int, int], None]


def identities(
    project: Project, record_ids: Iterable[uuid.UUID]
) -> list[tuple[uuid.UUID, IdentityAnswers]]:
    """The identity answers of the current version of each record (the newest received
    if it has none, e.g. in a conflict). Records that no longer exist are skipped. The
    caller logs the key use."""
    return [(v.record_id, who) for v, who in _decrypted(project, record_ids)]


def _decrypted(
    project: Project, record_ids: Iterable[uuid.UUID]
) -> list[tuple[StoredRecord, IdentityAnswers]]:
    """:func:`identities`, with the version each record's answers were read from."""
    wanted = list(record_ids)
    found = project.store.read_sync(lambda tx: _standing(tx, wanted))
    roles: dict[tuple[str, int], dict[str, str]] = {}
    out = []
    for v, document in found:
        key = (v.form_id, v.form_version)
        if key not in roles:
            roles[key] = identity_roles(msgspec.msgpack.decode(document, type=Form))
        secret: dict[str, Any] = open_sealed(
            project.identity.store_key, v.record_id, v.version, v.sha256, v.sealed
        )
        out.append((v, identity_answers(roles[key], secret)))
    return out


def _standing_version(tx: Tx, record_id: uuid.UUID) -> StoredRecord | None:
    """The version that stands for a record: its current one, else the newest received
    that is not superseded; None if it has none."""
    versions = [v for v in tx.records.history(record_id) if v.status != RecordStatus.SUPERSEDED]
    if not versions:
        return None
    return max(versions, key=lambda v: (v.status == RecordStatus.CURRENT, v.received_ms))


def _standing(tx: Tx, record_ids: list[uuid.UUID]) -> list[tuple[StoredRecord, bytes]]:
    """The version that stands for each record with its form's document; records with
    none are left out."""
    out = []
    documents: dict[tuple[str, int], bytes | None] = {}
    for rid in record_ids:
        v = _standing_version(tx, rid)
        if v is None:
            continue
        key = (v.form_id, v.form_version)
        if key not in documents:
            form = tx.forms.get(*key)
            documents[key] = None if form is None else form.document
        document = documents[key]
        if document is not None:
            out.append((v, document))
    return out


def _key_use(
    project: Project, purpose: str, count: int, now: datetime.datetime, actor: str
) -> None:
    log_key_use(
        project.store, ["respondents"], purpose=purpose, actor=actor, now=now, interviews=count
    )


def match_pending(
    project: Project,
    matcher: Matcher,
    *,
    now: datetime.datetime,
    actor: str,
    progress: Progress | None = None,
) -> MatchReport:
    """Match every respondent left ``pending`` (e.g. by a crash before matching). A batch
    is read again before it is decrypted: what another server matched meanwhile (its
    matcher had the answers in memory) is neither decrypted nor matched again."""
    pending = project.store.read_sync(lambda tx: tx.respondents.pending())
    total = MatchReport()
    if not pending:
        return total
    _key_use(project, "match interviews left pending", len(pending), now, actor)
    for i in range(0, len(pending), BATCH):
        batch = pending[i : i + BATCH]

        def waiting(tx: Tx, batch: list[uuid.UUID] = batch) -> dict[uuid.UUID, bytes]:
            return tx.respondents.waiting(batch)

        still = project.store.read_sync(waiting)
        todo = [r for r in batch if r in still]
        part = matcher.match(identities(project, todo), now=now)
        _add(total, part)
        if progress is not None:
            progress(min(i + BATCH, len(pending)), len(pending))
    return total


def rebuild(
    project: Project,
    matcher: Matcher,
    *,
    now: datetime.datetime,
    everything: bool = False,
    actor: str,
    progress: Progress | None = None,
) -> MatchReport:
    """File (again) the tokens of every current record that has no respondent row or
    tokens of an older version, or of every record with ``everything``, and match those
    whose tokens changed. Links and review decisions are kept.

    The tokens are filed only while the version they were decrypted from still stands,
    checked in the write under the records' locks (those ingest merges under): a version
    merged meanwhile, on this server or another, keeps the tokens its ingest filed, and a
    record left unfiled is found by the next rebuild."""
    at = ms(now)
    todo = project.store.read_sync(
        lambda tx: tx.respondents.needing_tokens(TOKEN_VERSION, everything=everything)
    )
    total = MatchReport()
    if not todo:
        return total
    _key_use(project, "file respondent tokens again", len(todo), now, actor)
    for i in range(0, len(todo), BATCH):
        found = _decrypted(project, todo[i : i + BATCH])
        filed = [(v, *stored_tokens(matcher.key, who)) for v, who in found]

        def tx(tx: Tx, filed: list[Any] = filed) -> list[int]:
            tx.records.lock(v.record_id for v, _, _ in filed)
            changed = []
            for n, (v, tokens, postings) in enumerate(filed):
                now_v = _standing_version(tx, v.record_id)
                if now_v is None or (now_v.version, now_v.sha256) != (v.version, v.sha256):
                    continue  # another version stands now: not these answers'
                if register(tx, v.record_id, tokens, postings, now_ms=at):
                    changed.append(n)
            return changed

        changed = project.store.write_sync(tx)
        _add(total, matcher.match([(found[n][0].record_id, found[n][1]) for n in changed], now=now))
        if progress is not None:
            progress(min(i + BATCH, len(todo)), len(todo))
    return total


def _add(total: MatchReport, part: MatchReport) -> None:
    total.interviews += part.interviews
    total.candidates += part.candidates
    total.linked += part.linked
    total.queued += part.queued
    total.review_ids += part.review_ids
