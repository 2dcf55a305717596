"""Interviews through the real ingest pipeline, for respondent tests (imported as
``respondent_helpers``). Every name is synthetic."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import random
import uuid
from typing import Any

from support.bundles import make_record, seal_for
from support.project import NOW
from support.uploader import enroll_offline

from schemas.bundle import read_header
from schemas.forms import shipped_form
from schemas.survey.synth import synthesize
from schemas.wire import Record
from syncserver.audit.entries import AuditEntry, decode_entry
from syncserver.forms import publish_form
from syncserver.ingest import IngestReport, ingest_bundle, persist_upload
from syncserver.ingest._prepare import Preparer
from syncserver.ingest.uploads import UploadArea
from syncserver.project import Project

FORM = shipped_form("escapee-interview")


@dataclasses.dataclass
class Env:
    """A project with the shipped form published and one enrolled device."""

    project: Project
    area: UploadArea
    preparer: Preparer
    key: Any
    device: uuid.UUID
    seq: int = 0
    prev: bytes = bytes(32)

    @classmethod
    def create(cls, project: Project) -> Env:
        publish_form(project, FORM, now=NOW, actor="cli:tester")
        key, device = enroll_offline(project, now=NOW)
        area, preparer = UploadArea(project.config.root), Preparer.for_project(project)
        return cls(project, area, preparer, key, device)

    def ingest(self, records: list[Record], *, match: bool = True) -> IngestReport:
        self.seq += 1
        data = seal_for(self.project, self.key, self.device, records, seq=self.seq, prev=self.prev)
        self.prev = hashlib.sha256(data).digest()
        bid = read_header(io.BytesIO(data)).bundle_id
        self.area.append(bid, 0, data, len(data))
        persist_upload(self.project, self.area, bid, self.device, len(data), self.prev, now=NOW)
        return ingest_bundle(self.project, self.area, self.preparer, bid, now=NOW, match=match)

    def audit(self, kind: str) -> list[AuditEntry]:
        rows = self.project.store.read_sync(
            lambda c: c.execute("SELECT entry FROM audit ORDER BY idx").fetchall()
        )
        return [e for e in (decode_entry(r[0]) for r in rows) if e.kind == kind]

    def cluster(self, rec: Record) -> bytes:
        row = self.project.store.read_sync(
            lambda c: c.execute(
                "SELECT cluster_id FROM respondents WHERE record_id = ?", (rec.record_id.bytes,)
            ).fetchone()
        )
        return bytes(row[0])


def interview(
    name: str | None,
    *,
    sex: str = "female",
    born: int = 1984,
    province: str = "ryanggang",
    left: int = 2009,
    seed: int = 0,
) -> Record:
    fixed = {
        "consent": "yes",
        "sex": sex,
        "birth_year": born,
        "province_of_origin": province,
        "departure_year": left,
    }
    a = synthesize(FORM, random.Random(seed), fixed=fixed)
    a.pop("respondent_name", None)
    if name is not None:
        a["respondent_name"] = name
    return make_record(FORM, a)
