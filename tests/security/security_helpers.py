"""Shared values and builders for the threat model's own tests (docs/threat-model.md),
imported as ``security_helpers`` (a module name no other test directory uses).

The project, the server and the device client are the suite's (``tests/support/``):
:class:`Server` is ``support.server``'s served project, with the distinctive synthetic
answers these tests search for sealed in its bundles."""

from __future__ import annotations

import datetime
import io
import random
import uuid
from dataclasses import dataclass

from support.bundles import make_record, seal_for
from support.server import Served
from support.uploader import DeviceClient

from schemas.bundle import read_header
from schemas.forms import shipped_form
from schemas.survey.synth import synthesize
from schemas.wire import EnrollmentResponse

__all__ = ["FORM", "NAME", "NARRATIVE", "Server", "answers", "now"]

FORM = shipped_form("escapee-interview")
#: Distinctive synthetic answers, searched for in bytes. Never a real name.
NAME = "합성보안이름"
NARRATIVE = "synthetic-narrative-7f3a: held at a synthetic place"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def answers(seed: int) -> dict:  # type: ignore[type-arg]
    a = synthesize(FORM, random.Random(seed), fixed={"consent": "yes"})
    a["respondent_name"] = NAME
    a["closing_notes"] = NARRATIVE
    return a


@dataclass(frozen=True)
class Server(Served):
    async def enroll(self, label: str = "laptop-1") -> tuple[DeviceClient, EnrollmentResponse]:
        """A new device enrolled online with a token of its own label."""
        return await super().enroll(label, token_label=label)

    def bundle(
        self, client: DeviceClient, *, seq: int = 1, seed: int = 0, prev: bytes = bytes(32)
    ) -> tuple[uuid.UUID, bytes]:
        recs = [make_record(FORM, answers(seed))]
        data = seal_for(self.project, client.key, client.device_id, recs, seq=seq, prev=prev)
        return read_header(io.BytesIO(data)).bundle_id, data

    def count(self, sql: str) -> int:
        return int(self.project.store.read_sync(lambda c: c.execute(sql).fetchone())[0])
