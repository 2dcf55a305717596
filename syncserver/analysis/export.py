"""Exports for analysis: a form's current records as CSV tables or JSON Lines, streamed.

``export_form(project, "escapee-interview", fmt="csv", out_dir=..., ...)`` writes

``<form>.csv``
    One row per *current* record. Columns: ``record_id``, ``respondent_id`` (the
    respondent cluster, docs/spec/respondent-matching.md §10.2: count distinct values to
    count people rather than interviews), ``version`` (the record's edit
    number), ``form_version``, ``review``, ``received_at`` (UTC, ISO 8601),
    ``stopped_early``, then every question in form order (groups flattened, notes left
    out). A repeat group appears in its place as a column holding its number of entries.
``<form>.<repeat>.csv``
    One linked table per repeat group: ``record_id``, ``entry`` (1-based, as in ODK), then
    the repeat's questions. A repeat nested in a repeat is ``<form>.<outer>.<inner>.csv``
    with ``record_id``, ``<outer>_entry``, ``entry``.
``<form>.jsonl`` (``fmt="jsonl"``, instead of the CSV tables)
    One JSON object per current record: the same record columns plus ``answers`` in the
    shape of docs/spec/survey-language.md §8 (repeats nested, multiple choices as arrays),
    keys in form order.
``<form>.codebook.csv``
    Always. One row per column of every table (``table``, ``column``, ``type``,
    ``sensitive``, ``redacted``, ``value``, ``label_<lang>``), and after each select
    question one row per choice (``type`` = ``choice``, ``value`` = the code used in the
    data). With ``lang`` only that language's labels, otherwise every form language.

Decisions, each for a reason:

- **Headers are question names by default, labels go to the codebook.** Names are
  stable, ASCII and valid variable names in R, Stata and SPSS; Korean labels are whole
  sentences. ``headers="labels"`` puts the labels in ``lang`` (default: the form's default
  language) in the CSV header row instead, for people reading the table directly, as
  KoboToolbox offers. Values are codes (``kwanliso``), never labels, so analyses survive
  a relabelled form.
- **Cells.** Multiple choices are space-separated codes (XLSForm/ODK); booleans are
  ``true``/``false``; no answer is an empty cell.
- **Only ``current`` records.** A record in unresolved *conflict* has two candidate
  contents for one version: exporting both would count one interview twice, picking one
  would be a silent decision. They are held back and counted in
  :attr:`ExportReport.held_back`; resolve them in review and export again. Superseded
  versions are history, never data. All review states are exported; ``review`` says which.
- **Versions.** By default every published version of the form is exported; columns come
  from the newest version, then columns that exist only in older versions (newest first),
  so no answer of an older record is lost. Records map onto columns by question name
  within the same table. A column is sensitive if it is in any version. ``version=N``
  exports only records of form version N, with that version's columns.
- **Redaction.** A sensitive column is present, and every cell of it holds
  ``[redacted]`` whether or not the respondent answered (an empty cell would tell who
  gave a name). Sensitive answers are not even decrypted. ``include_sensitive`` needs a
  role in :data:`SENSITIVE_ROLES`; the sealed answers are then opened with the store key.
- **Spreadsheets are hostile ground.** A text cell starting with ``=``, ``+``, ``-``,
  ``@``, a tab, CR or LF (or their full-width forms) gets a leading ``'`` so that Excel
  and LibreOffice show it as text instead of running it (OWASP "CSV injection"). Numbers
  are written as numbers. JSON Lines is left exact: it is not opened by spreadsheets.
- **UTF-8 with a BOM** for CSV files: without it Excel (notably on Korean Windows, CP949
  by default) garbles Hangul; R, pandas and Stata read the BOM fine. JSON Lines has no
  BOM (RFC 8259). CSV rows end in CRLF (RFC 4180).
- **Streaming.** One read transaction (a consistent snapshot), records fetched in batches
  of :data:`BATCH` in arrival order per form version (an index walk, no sort), each row
  written as soon as it is built: memory does not grow with the number of records.
- **Atomic, logged.** Files are written to temporary names (mode 0600) and fsynced; then
  the ``export`` audit entry is appended; only then are the files renamed into place. A
  failed export leaves no file behind, and no export file appears without its entry.
- **Never over an earlier export.** If ``out_dir`` already holds a file of the names this
  export would write, it is refused before anything is read (:class:`ExportExists`), and
  checked again just before the files are renamed into place; ``overwrite=True`` replaces
  them. An export is evidence of what was handed out: it is not silently rewritten.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, Protocol

import msgspec
from cryptography.exceptions import InvalidTag

from schemas.survey import ANSWER_TYPES, Form, Item, Text

from .._time import ms
from ..audit.entries import AuditEntry, append
from ..errors import BadRequest, NotFound, StoreError, SyncServerError
from ..project import Project
from ..records.sensitive import join, open_sealed
from ..store import StoredForm, Tx

__all__ = [
    "BATCH",
    "REDACTED",
    "SENSITIVE_ROLES",
    "ExportError",
    "ExportExists",
    "ExportRefused",
    "ExportReport",
    "Format",
    "export_form",
]

Format = Literal["csv", "jsonl"]

#: What every cell of a redacted column holds.
REDACTED = "[redacted]"
#: Roles that may export sensitive answers (names, birth years, origins, narratives).
SENSITIVE_ROLES: frozenset[str] = frozenset({"admin"})
#: Records fetched from the store per round trip.
BATCH = 500

_FORMULA_START = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
_BUFFER = 1 << 20

# Labels of the columns that are not questions (English stands in for other languages).
_META_LABELS: dict[str, Text] = {
    "record_id": {"ko": "응답 식별자", "en": "Record id"},
    "respondent_id": {
        "ko": "응답자 식별자 (같은 사람의 면담은 같은 값)",
        "en": "Respondent id (the same for every interview of one person)",
    },
    "version": {"ko": "응답 수정 차수", "en": "Record version (edit number)"},
    "form_version": {"ko": "면담지 버전", "en": "Form version"},
    "review": {"ko": "검토 상태", "en": "Review state"},
    "received_at": {"ko": "서버 수신 시각 (UTC)", "en": "Received by the server (UTC)"},
    "stopped_early": {"ko": "응답자가 면담을 중간에 멈춤", "en": "Respondent stopped early"},
    "entry": {"ko": "반복 항목 번호 (1부터)", "en": "Entry number in the repeat (from 1)"},
}
_RECORD_KEYS = (
    "record_id",
    "respondent_id",
    "version",
    "form_version",
    "review",
    "received_at",
    "stopped_early",
)
_META_TYPES = {
    "record_id": "uuid",
    "respondent_id": "uuid",
    "version": "integer",
    "form_version": "integer",
    "review": "select_one",
    "received_at": "datetime",
    "stopped_early": "boolean",
    "entry": "integer",
}
_REVIEW_CHOICES: dict[str, Text] = {
    "received": {"ko": "접수됨", "en": "Received"},
    "has_issues": {"ko": "문제 있음", "en": "Has issues"},
    "approved": {"ko": "승인됨", "en": "Approved"},
    "rejected": {"ko": "거부됨", "en": "Rejected"},
}


class ExportError(SyncServerError):
    """An export could not be written."""

    code = "export"


class ExportExists(ExportError):
    """The output directory already holds files this export would write."""

    status = 409
    code = "export_exists"


class ExportRefused(ExportError):
    """The role may not export sensitive answers."""

    status = 403
    code = "export_refused"


@dataclass
class ExportReport:
    files: list[Path]
    rows: int  # records exported (rows of the main table or lines of JSONL)
    redacted_columns: list[str]  # "table.column", table being the file stem
    repeat_rows: dict[str, int] = field(default_factory=dict)  # table → rows
    held_back: int = 0  # records in unresolved conflict, not exported
    form_version: int = 0  # the version the columns come from
    versions: tuple[int, ...] = ()  # form versions whose records were exported


# -- the column plan ----------------------------------------------------------------------


@dataclass
class _Column:
    name: str
    type: str
    label: Text
    sensitive: bool
    choices: dict[str, Text] = field(default_factory=dict)


@dataclass
class _Table:
    """A CSV table (or a nesting level of JSONL): its columns and its repeat children."""

    stem: str
    keys: list[str]  # the columns before the questions
    key_info: list[tuple[str, Text]] = field(default_factory=list)  # (meta kind, label)
    columns: dict[str, _Column] = field(default_factory=dict)
    children: dict[str, _Table] = field(default_factory=dict)
    # filled by _finish():
    redacted: frozenset[str] = frozenset()
    pos: dict[str, int] = field(default_factory=dict)
    template: list[Any] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def walk(self) -> Iterator[_Table]:
        yield self
        for child in self.children.values():
            yield from child.walk()


def _unique(name: str, taken: Iterable[str]) -> str:
    taken = set(taken)
    while name in taken:
        name = "_" + name
    return name


def _plan(forms: list[Form], include_sensitive: bool) -> _Table:
    """The merged table tree of ``forms`` (newest first): newest layout, older extras after."""
    root = _Table(stem=forms[0].id, keys=[])

    def add(form: Form, items: tuple[Item, ...], table: _Table) -> None:
        for it in items:
            if it.type == "group":
                add(form, it.items, table)
                continue
            if it.type != "repeat" and it.type not in ANSWER_TYPES:
                continue  # notes
            col = table.columns.get(it.name)
            if col is None:
                col = table.columns[it.name] = _Column(
                    it.name, "repeat" if it.type == "repeat" else it.type, it.label, False
                )
            col.sensitive |= it.sensitive
            for ch in form.choices.get(it.choices or "", ()):
                col.choices.setdefault(ch.value, ch.label)
            if it.type == "repeat":
                child = table.children.get(it.name)
                if child is None:
                    child = table.children[it.name] = _Table(f"{table.stem}.{it.name}", keys=[])
                add(form, it.items, child)

    for form in forms:
        add(form, form.items, root)

    def finish(table: _Table, repeats: list[str]) -> None:
        if not repeats:
            metas = [(k, k, _META_LABELS[k]) for k in _RECORD_KEYS]
        else:
            metas = [("record_id", "record_id", _META_LABELS["record_id"])]
            metas += [(f"{r}_entry", "entry", _entry_label(r)) for r in repeats[:-1]]
            metas.append(("entry", "entry", _META_LABELS["entry"]))
        for name, kind, label in metas:
            table.keys.append(_unique(name, [*table.columns, *table.keys]))
            table.key_info.append((kind, label))
        table.names = list(table.columns)
        table.redacted = frozenset(
            n for n, c in table.columns.items() if c.sensitive and not include_sensitive
        )
        first = len(table.keys)
        table.pos = {n: first + i for i, n in enumerate(table.names) if n not in table.redacted}
        table.template = [REDACTED if n in table.redacted else "" for n in table.names]
        for name, child in table.children.items():
            finish(child, [*repeats, name])

    finish(root, [])
    return root


def _entry_label(repeat: str) -> Text:
    return {
        "ko": f"'{repeat}' 반복 항목 번호 (1부터)",
        "en": f"Entry number in the repeat '{repeat}' (from 1)",
    }


# -- cells --------------------------------------------------------------------------------


def _text(s: str) -> str:
    return "'" + s if s and s[0] in _FORMULA_START else s


def _cell(v: Any) -> Any:
    """One CSV cell: numbers stay numbers, text is defused, choices space-separated."""
    t = type(v)
    if t is str:
        return "'" + v if v and v[0] in _FORMULA_START else v
    if t is bool:
        return "true" if v else "false"
    if t is int or t is float:
        return v
    if v is None:
        return ""
    if t is list:
        return _text(" ".join(str(x) for x in v))
    return _text(msgspec.json.encode(v).decode())


def _utc(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


# -- output files -------------------------------------------------------------------------


class _RowWriter(Protocol):
    def writerow(self, row: Iterable[Any], /) -> Any: ...


class _Files:
    """Temporary files in ``out_dir``, renamed into place together by :meth:`commit`."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.items: list[tuple[Path, Path, IO[Any]]] = []

    def open(self, name: str, *, text: bool) -> IO[Any]:
        final = self.out_dir / name
        tmp = self.out_dir / f".{name}.{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        f: IO[Any]
        if text:
            f = open(fd, "w", encoding="utf-8-sig", newline="", buffering=_BUFFER)
        else:
            f = open(fd, "wb", buffering=_BUFFER)
        self.items.append((tmp, final, f))
        return f

    def csv(self, name: str) -> _RowWriter:
        return csv.writer(self.open(name, text=True))

    def finish(self) -> None:
        for _, _, f in self.items:
            f.flush()
            os.fsync(f.fileno())
            f.close()

    def commit(self) -> list[Path]:
        for tmp, final, _ in self.items:
            os.replace(tmp, final)
        with contextlib.suppress(OSError):  # not every platform can fsync a directory
            fd = os.open(self.out_dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return [final for _, final, _ in self.items]

    def discard(self) -> None:
        for tmp, _, f in self.items:
            with contextlib.suppress(OSError):
                f.close()
            with contextlib.suppress(OSError):
                tmp.unlink()


# -- the export -----------------------------------------------------------------------------


class _Stored(msgspec.Struct):
    """The parts of a stored :class:`schemas.wire.Record` an export reads."""

    answers: dict[str, Any] = {}
    stopped_early: bool = False


_decode = msgspec.msgpack.Decoder(_Stored).decode


def export_form(
    project: Project,
    form_id: str,
    *,
    fmt: Format,
    out_dir: Path,
    actor: str,
    now: datetime.datetime,
    version: int | None = None,
    lang: str | None = None,
    include_sensitive: bool = False,
    role: str = "manager",
    headers: Literal["names", "labels"] = "names",
    overwrite: bool = False,
) -> ExportReport:
    """Export the current records of ``form_id`` into ``out_dir`` (see the module docs).

    ``role`` is the role of whoever asks; only :data:`SENSITIVE_ROLES` may set
    ``include_sensitive``. ``actor`` is written to the audit entry. Files of an earlier
    export in ``out_dir`` are replaced only with ``overwrite`` (else :class:`ExportExists`).
    """
    if fmt not in ("csv", "jsonl"):
        raise BadRequest(f"unknown export format {fmt!r}", hint="use csv or jsonl")
    if include_sensitive and role not in SENSITIVE_ROLES:
        raise ExportRefused(
            f"the {role} role may not export sensitive answers",
            hint="export without sensitive answers, or ask an administrator",
        )
    forms = _load_forms(project, form_id, version)
    if lang is not None and lang not in forms[0].languages:
        raise BadRequest(
            f"form '{form_id}' has no language {lang!r}",
            hint=f"use one of: {', '.join(forms[0].languages)}",
        )
    plan = _plan(forms, include_sensitive)
    versions = sorted(f.version for f in forms)
    names = _file_names(plan, fmt)
    if not overwrite:
        _refuse_existing(out_dir, names)
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create {out_dir} ({e.strerror})") from None
    files = _Files(out_dir)
    try:
        report = ExportReport(
            files=[],
            rows=0,
            redacted_columns=[
                f"{t.stem}.{n}" for t in plan.walk() for n in t.names if n in t.redacted
            ],
            form_version=forms[0].version,
            versions=tuple(versions),
        )
        _write_codebook(files, plan, lang, forms[0].languages, fmt)
        if fmt == "csv":
            label_lang = (lang or forms[0].default_language) if headers == "labels" else None
            writer: _Writer = _CsvWriter(files, plan, label_lang)
        else:
            writer = _JsonlWriter(files, plan)
        key = project.identity.store_key if include_sensitive else None

        def stream(tx: Tx) -> None:
            for v in versions:
                # Sealed answers are never even read when they are not shown.
                rows = tx.records.current_of_form(form_id, v, sealed=key is not None, batch=BATCH)
                for r in rows:
                    record_id, ver = r.record_id, r.version
                    try:
                        stored = _decode(r.answers)
                    except msgspec.DecodeError:
                        raise StoreError(
                            f"record {record_id} v{ver} cannot be decoded",
                            hint="the store is damaged: restore it from a backup",
                        ) from None
                    answers = stored.answers
                    if key is not None and r.sealed is not None:
                        try:
                            secret = open_sealed(key, record_id, ver, r.sha256, r.sealed)
                        except InvalidTag:
                            raise StoreError(
                                f"the sealed answers of record {record_id} v{ver}"
                                " fail authentication",
                                hint="the store is damaged: restore it from a backup",
                            ) from None
                        answers = join(answers, secret)
                    respondent = "" if r.respondent is None else str(r.respondent)
                    meta = [str(record_id), respondent, ver, v, r.review.value, _utc(r.received_ms)]
                    writer.record([*meta, stored.stopped_early], answers)
                    report.rows += 1
            report.held_back = tx.records.unresolved_conflicts(form_id, version)

        project.store.read_sync(stream)
        report.repeat_rows = writer.repeat_rows()
        files.finish()
        if not overwrite:
            _refuse_existing(out_dir, names)  # one written meanwhile
        _log(project, report, form_id, fmt, include_sensitive, role, actor, now, version)
        report.files = files.commit()
    except OSError as e:
        files.discard()
        raise ExportError(
            f"cannot write the export to {out_dir} ({e.strerror})",
            hint="check the directory, its permissions and the free space",
        ) from None
    except BaseException:
        files.discard()
        raise
    return report


def _file_names(plan: _Table, fmt: str) -> list[str]:
    """The names of the files an export of ``plan`` in ``fmt`` writes."""
    data = [f"{t.stem}.csv" for t in plan.walk()] if fmt == "csv" else [f"{plan.stem}.jsonl"]
    return [*data, _codebook_name(plan, fmt)]


def _refuse_existing(out_dir: Path, names: list[str]) -> None:
    there = [n for n in names if os.path.lexists(out_dir / n)]
    if there:
        shown = ", ".join(there[:3]) + (f" and {len(there) - 3} more" if len(there) > 3 else "")
        raise ExportExists(
            f"{out_dir} already holds an export ({shown}); nothing was written",
            hint="choose a new --out directory, or add --overwrite to replace those files",
        )


def _load_forms(project: Project, form_id: str, version: int | None) -> list[Form]:
    """The published versions to export, newest first."""

    def read(tx: Tx) -> list[StoredForm]:
        if version is None:
            return tx.forms.versions(form_id)
        one = tx.forms.get(form_id, version)
        return [] if one is None else [one]

    rows = project.store.read_sync(read)
    if not rows:
        which = f"form '{form_id}'" + ("" if version is None else f" v{version}")
        raise NotFound(f"{which} is not published", hint="see `syncserver forms list`")
    return [msgspec.msgpack.decode(r.document, type=Form) for r in rows]


def _log(
    project: Project,
    report: ExportReport,
    form_id: str,
    fmt: str,
    include_sensitive: bool,
    role: str,
    actor: str,
    now: datetime.datetime,
    version: int | None,
) -> None:
    entry = AuditEntry(
        kind="export",
        at_ms=ms(now),
        actor=actor,
        subject=form_id,
        detail={
            "form": form_id,
            "version": report.form_version,
            "all_versions": version is None,
            "rows": report.rows,
            "repeat_rows": sum(report.repeat_rows.values()),
            "format": fmt,
            "sensitive": include_sensitive,
            "role": role,
        },
    )
    project.store.write_sync(lambda tx: append(tx, entry))


# -- writers --------------------------------------------------------------------------------


class _Writer(Protocol):
    def record(self, meta: list[Any], answers: dict[str, Any]) -> None: ...

    def repeat_rows(self) -> dict[str, int]: ...


class _CsvWriter:
    def __init__(self, files: _Files, plan: _Table, label_lang: str | None = None) -> None:
        self.plan = plan
        self.out: dict[str, _RowWriter] = {}
        self.counts: dict[str, int] = {}
        for t in plan.walk():
            w = self.out[t.stem] = files.csv(f"{t.stem}.csv")
            if label_lang is None:
                w.writerow([*t.keys, *t.names])
            else:  # headers in the analysts' language; the codebook still maps them to names
                w.writerow(
                    [_label(text, label_lang) for _, text in t.key_info]
                    + [_label(t.columns[n].label, label_lang) for n in t.names]
                )
            if t is not plan:
                self.counts[t.stem] = 0

    def record(self, meta: list[Any], answers: dict[str, Any]) -> None:
        self._row(self.plan, [_cell(x) for x in meta], [meta[0]], answers)

    def _row(self, t: _Table, head: list[Any], link: list[Any], answers: dict[str, Any]) -> None:
        row = head + t.template
        pos, children = t.pos, t.children
        for k, v in answers.items():
            i = pos.get(k)
            if i is None:
                continue
            if k in children and type(v) is list:
                row[i] = len(v)
                child = children[k]
                for n, entry in enumerate(v, 1):
                    if type(entry) is dict:
                        sub = [*link, n]
                        self._row(child, sub, sub, entry)
                        self.counts[child.stem] += 1
            else:
                row[i] = _cell(v)
        self.out[t.stem].writerow(row)

    def repeat_rows(self) -> dict[str, int]:
        return dict(self.counts)


class _JsonlWriter:
    def __init__(self, files: _Files, plan: _Table) -> None:
        self.plan = plan
        self.f = files.open(f"{plan.stem}.jsonl", text=False)
        self.enc = msgspec.json.Encoder()
        self.counts = {t.stem: 0 for t in plan.walk() if t is not plan}

    def record(self, meta: list[Any], answers: dict[str, Any]) -> None:
        obj = dict(zip(_RECORD_KEYS, meta, strict=True))
        obj["answers"] = self._answers(self.plan, answers)
        self.f.write(self.enc.encode(obj) + b"\n")

    def _answers(self, t: _Table, a: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in t.names:
            if name in t.redacted:
                out[name] = REDACTED
            elif name in a:
                v = a[name]
                child = t.children.get(name)
                if child is not None and type(v) is list:
                    out[name] = [self._answers(child, e) for e in v if type(e) is dict]
                    self.counts[child.stem] += len(out[name])
                else:
                    out[name] = v
        return out

    def repeat_rows(self) -> dict[str, int]:
        return dict(self.counts)


# -- the codebook ----------------------------------------------------------------------------


def _label(text: Text, lang: str) -> str:
    return _text(text.get(lang) or text.get("en") or next(iter(text.values()), ""))


def _codebook_name(plan: _Table, fmt: str) -> str:
    taken = {f"{t.stem}.csv" for t in plan.walk()} if fmt == "csv" else set()
    name = f"{plan.stem}.codebook.csv"
    while name in taken:
        name = f"{plan.stem}._{name[len(plan.stem) + 1 :]}"
    return name


def _write_codebook(
    files: _Files, plan: _Table, lang: str | None, languages: tuple[str, ...], fmt: str
) -> None:
    langs = [lang] if lang else list(languages)
    w = files.csv(_codebook_name(plan, fmt))
    w.writerow(
        [
            "table",
            "column",
            "type",
            "sensitive",
            "redacted",
            "value",
            *(f"label_{x}" for x in langs),
        ]
    )

    def label(text: Text) -> list[str]:
        return [
            _text(text.get(x) or text.get("en") or next(iter(text.values()), "")) for x in langs
        ]

    for t in plan.walk():
        for k, (kind, text) in zip(t.keys, t.key_info, strict=True):
            w.writerow([t.stem, k, _META_TYPES[kind], "false", "false", "", *label(text)])
            if kind == "review":
                for value, choice in _REVIEW_CHOICES.items():
                    w.writerow([t.stem, k, "choice", "", "", value, *label(choice)])
        for n in t.names:
            c = t.columns[n]
            sens = "true" if c.sensitive else "false"
            red = "true" if n in t.redacted else "false"
            w.writerow([t.stem, n, c.type, sens, red, "", *label(c.label)])
            for value, text in c.choices.items():
                w.writerow([t.stem, n, "choice", "", "", _text(value), *label(text)])
