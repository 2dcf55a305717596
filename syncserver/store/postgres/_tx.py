"""A transaction of the PostgreSQL store (:class:`~.._api.Tx`): a connection inside a
transaction, and the repositories made on first use."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import psycopg

from ._access import PgAdminTokens, PgDevices, PgEnrollTokens
from ._audit import PgAudit, PgCheckpoints
from ._forms import PgForms, PgMeta
from ._ingest import PgBundles, PgQuarantine, PgRecords, PgUploads
from ._respondents import PgCandidates, PgLinks, PgPostings, PgRespondents

__all__ = ["PgTx"]


class PgTx:
    def __init__(self, conn: psycopg.Connection[Any], audit_mac_key: bytes | None) -> None:
        self._c = conn
        self.audit_mac_key = audit_mac_key

    @cached_property
    def devices(self) -> PgDevices:
        return PgDevices(self._c)

    @cached_property
    def enroll_tokens(self) -> PgEnrollTokens:
        return PgEnrollTokens(self._c)

    @cached_property
    def admin_tokens(self) -> PgAdminTokens:
        return PgAdminTokens(self._c)

    @cached_property
    def forms(self) -> PgForms:
        return PgForms(self._c)

    @cached_property
    def meta(self) -> PgMeta:
        return PgMeta(self._c)

    @cached_property
    def uploads(self) -> PgUploads:
        return PgUploads(self._c)

    @cached_property
    def bundles(self) -> PgBundles:
        return PgBundles(self._c)

    @cached_property
    def records(self) -> PgRecords:
        return PgRecords(self._c)

    @cached_property
    def quarantine(self) -> PgQuarantine:
        return PgQuarantine(self._c)

    @cached_property
    def audit(self) -> PgAudit:
        return PgAudit(self._c, self.audit_mac_key)

    @cached_property
    def checkpoints(self) -> PgCheckpoints:
        return PgCheckpoints(self._c)

    @cached_property
    def respondents(self) -> PgRespondents:
        return PgRespondents(self._c)

    @cached_property
    def postings(self) -> PgPostings:
        return PgPostings(self._c)

    @cached_property
    def links(self) -> PgLinks:
        return PgLinks(self._c)

    @cached_property
    def candidates(self) -> PgCandidates:
        return PgCandidates(self._c)
