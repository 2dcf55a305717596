"""XLSForm import (docs/spec/survey-language.md §9).

:func:`import_xlsform` reads an ``.xlsx`` workbook laid out as an XLSForm (sheets
``survey``, ``choices`` and ``settings``) and returns the same :class:`~schemas.survey.Form`
a TOML document would give, checked by the same rules (:func:`~schemas.survey.check_form`).

A workbook is hostile input. The file is capped at :data:`MAX_XLSFORM_BYTES`, its unzipped
parts at :data:`MAX_UNZIPPED_BYTES` and each sheet at :data:`MAX_XLSFORM_ROWS` rows; it is
opened read-only with cached values only (formulas are never evaluated, external links never
followed). Whatever goes wrong, the caller sees one :class:`~schemas.errors.FormInvalid`
listing *every* problem found. Each problem's path names the cell: ``survey!E12 (constraint)``
is sheet ``survey``, column E, row 12, under the header ``constraint``. A cell in a column
that is missing altogether is named by its row, ``survey!12:12 (sensitive)``.

What is read (everything else is refused or, if it only changes presentation, ignored with
a warning in :attr:`ImportResult.warnings`):

* ``settings``: ``form_id``, ``version`` (a whole number 1 … 2³¹-1; date-style versions such
  as ``2024010101`` fit), ``form_title`` / ``form_title::Korean (ko)``, ``default_language``
  (``ko`` or ``Korean (ko)``).
* ``survey``: ``type``, ``name``, ``label::Language (code)``, ``hint::…``, ``required``,
  ``relevant``, ``constraint`` with ``constraint_message::…``, ``choice_filter``,
  ``repeat_count`` (a whole number only), and the sealsync columns ``sensitive``,
  ``identity``, ``min_count`` and ``max_count``. A column with no language (``label``) is in
  the default language.
* ``choices``: ``list_name``, ``name``, ``label::…``; any other column is a choice property
  that ``choice_filter`` expressions can test.
"""

from __future__ import annotations

import datetime
import io
import os
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import openpyxl
from openpyxl.utils import get_column_letter

from ..errors import FormInvalid, Problem
from ._load import MAX_DEPTH, check_form
from ._model import IDENTITY_ROLES, Choice, Constraint, Form, Item, Text

__all__ = [
    "MAX_UNZIPPED_BYTES",
    "MAX_XLSFORM_BYTES",
    "MAX_XLSFORM_COLUMNS",
    "MAX_XLSFORM_ROWS",
    "ImportResult",
    "import_xlsform",
]

#: Largest workbook file accepted.
MAX_XLSFORM_BYTES = 10 * 1024 * 1024
#: Largest total size of the workbook's parts once unzipped (a zip bomb stops here).
MAX_UNZIPPED_BYTES = 50 * 1024 * 1024
#: Most rows read from one sheet, the header row included.
MAX_XLSFORM_ROWS = 20_000
#: Most columns read from one sheet.
MAX_XLSFORM_COLUMNS = 256
_MAX_ZIP_MEMBERS = 1000
_SHOW = 40  # longest piece of a cell repeated in a message


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    """A checked form read from an XLSForm, and what was ignored on the way."""

    form: Form
    #: Presentation-only cells that were ignored, each with its sheet, row and column.
    warnings: tuple[Problem, ...] = ()


# ---------------------------------------------------------------------------- vocabulary

_SIMPLE_TYPES = {
    "text": "text",
    "string": "text",
    "integer": "integer",
    "int": "integer",
    "decimal": "decimal",
    "date": "date",
    "note": "note",
    "boolean": "boolean",
    "year": "year",
}
_BEGIN_END = {
    "begin group": ("begin", "group"),
    "begin repeat": ("begin", "repeat"),
    "end group": ("end", "group"),
    "end repeat": ("end", "repeat"),
}
_SELECT = re.compile(
    r"(select_one|select one|select_multiple|select multiple|select all that apply)(?:\s+(.*))?",
    re.IGNORECASE,
)
_SUPPORTED = "text, integer, decimal, boolean, date, year, note, select_one LIST, " + (
    "select_multiple LIST, begin/end group, begin/end repeat"
)
_METADATA = (
    "metadata questions are not supported (the collector records what it needs itself); "
    "remove this row"
)
_MEDIA = "media and file questions are not supported; remove this row"
_LOCATION = (
    "location questions are not supported: sealsync never records where an interview "
    "happens; remove this row"
)
_UNSUPPORTED_TYPES = {
    "calculate": "calculated values are not supported: sealsync keeps only what the "
    "interviewer enters; remove this row and compute the value during analysis",
    "geopoint": _LOCATION,
    "geotrace": _LOCATION,
    "geoshape": _LOCATION,
    "start-geopoint": _LOCATION,
    "background-geopoint": _LOCATION,
    "image": _MEDIA,
    "audio": _MEDIA,
    "video": _MEDIA,
    "file": _MEDIA,
    "background-audio": _MEDIA,
    "audit": _MEDIA,
    "barcode": "barcode questions are not supported; use a text question",
    "range": "range questions are not supported; use an integer question with a constraint",
    "rank": "rank questions are not supported; use one select_one question per position",
    "trigger": "trigger questions are not supported; use a boolean question",
    "acknowledge": "acknowledge questions are not supported; use a boolean question",
    "datetime": "date-time questions are not supported; use a date question",
    "time": "time questions are not supported; use a text question with a constraint",
    "hidden": "hidden questions are not supported; remove this row",
    "xml-external": "external data is not supported; remove this row",
    "csv-external": "external data is not supported; remove this row",
    "select_one_from_file": "choices from a file are not supported; put them in the choices sheet",
    "select_multiple_from_file": "choices from a file are not supported; "
    "put them in the choices sheet",
    "select_one_external": "external choices are not supported; put them in the choices sheet",
    "begin table": "tables are not supported; use a group",
    **{
        t: _METADATA
        for t in (
            "start",
            "end",
            "today",
            "deviceid",
            "subscriberid",
            "simserial",
            "phonenumber",
            "username",
            "email",
        )
    },
}

_ALIASES = {
    "constraint message": "constraint_message",
    "jr:constraintmsg": "constraint_message",
    "required message": "required_message",
    "jr:requiredmsg": "required_message",
    "choice filter": "choice_filter",
    "repeat count": "repeat_count",
    "jr:count": "repeat_count",
    "list name": "list_name",
    "readonly": "read_only",
    "read only": "read_only",
    "guidance hint": "guidance_hint",
    "id_string": "form_id",
    "form id": "form_id",
    "form title": "form_title",
    "default language": "default_language",
    "min count": "min_count",
    "max count": "max_count",
}

#: Columns whose cells would change what is collected: a non-empty cell is a problem.
_REFUSED = {
    "calculation": "calculations are not supported: sealsync keeps only what the interviewer "
    "enters; clear this cell and compute the value during analysis",
    "default": "default answers are not supported: the interviewer enters every answer; "
    "clear this cell",
    "read_only": "read-only questions are not supported; use a note to show text, "
    "or clear this cell",
    "trigger": "triggers are not supported; clear this cell",
    "save_to": "entities (save_to) are not supported; clear this cell",
    "bind": "custom bind attributes are not supported; clear this cell",
}
#: Columns that only change presentation: a non-empty cell is ignored with a warning.
_PRESENTATION = {
    "appearance": "appearance is ignored: the collector decides how questions look",
    "guidance_hint": "guidance hints are ignored; put guidance for the interviewer in the hint",
    "required_message": "required_message is ignored: the collector says itself that an "
    "answer is missing",
    "parameters": "parameters are ignored",
    "media": "media are ignored: the collector shows text only",
    "image": "media are ignored: the collector shows text only",
    "big-image": "media are ignored: the collector shows text only",
    "audio": "media are ignored: the collector shows text only",
    "video": "media are ignored: the collector shows text only",
    "autoplay": "autoplay is ignored: the collector shows text only",
    "intent": "external app intents are ignored",
    "body": "body attributes are ignored",
    "instance": "instance attributes are ignored",
}
_SURVEY_COLUMNS = {
    "type",
    "name",
    "required",
    "relevant",
    "constraint",
    "choice_filter",
    "repeat_count",
    "sensitive",
    "identity",
    "min_count",
    "max_count",
}
_TEXT_COLUMNS = {"label", "hint", "constraint_message", "form_title"}
_SHEET_TEXTS = {
    "survey": {"label", "hint", "constraint_message"},
    "choices": {"label"},
    "settings": {"form_title"},
}
_SHEET_COLUMNS = {
    "survey": _SURVEY_COLUMNS,
    "choices": {"list_name", "name"},
    "settings": {"form_id", "version", "default_language"},
}
#: check_form's field names that are named differently in a sheet
_FIELD_COLUMN = {"value": "name"}
_TRUE = {"yes", "true", "1", "y"}
_FALSE = {"no", "false", "0", "n", ""}
_LANG_CODE = re.compile(r"[a-z]{2,3}")
_LANG_NAMED = re.compile(r"(?P<name>.*?)\s*\((?P<code>[^()]*)\)")
_PROPERTY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_WHOLE = re.compile(r"[+-]?[0-9]{1,10}")


# ---------------------------------------------------------------------------- cells


def _text(v: object) -> str:
    """A cell as text: numbers as Excel shows them (``3``, not ``3.0``), dates ISO."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return str(int(v))
    if isinstance(v, datetime.datetime):
        if v.time() == datetime.time():
            return v.date().isoformat()
        return v.isoformat()
    if isinstance(v, datetime.date | datetime.time):
        return v.isoformat()
    return str(v).strip()


def _show(s: str) -> str:
    return s if len(s) <= _SHOW else s[: _SHOW - 1] + "…"


@dataclass(frozen=True, slots=True)
class _Col:
    index: int  # 0-based
    header: str
    base: str  # canonical column name: "label", "constraint_message", "appearance", …
    lang: str | None = None  # a text column's language; None until resolved, for "label"


@dataclass(slots=True)
class _Sheet:
    name: str
    header: tuple[object, ...]
    rows: list[tuple[int, tuple[object, ...]]]  # (1-based row, values), blank rows dropped

    def value(self, values: tuple[object, ...], col: _Col | None) -> str:
        if col is None or col.index >= len(values):
            return ""
        return _text(values[col.index])

    def at(self, row: int, col: _Col) -> str:
        return f"{self.name}!{get_column_letter(col.index + 1)}{row} ({col.header})"


def _row_at(sheet: str, row: int, header: str) -> str:
    """A cell in a column the sheet does not have."""
    return f"{sheet}!{row}:{row} ({header})"


@dataclass(slots=True)
class _Header:
    """A sheet's columns, by what they mean."""

    single: dict[str, _Col] = field(default_factory=dict)
    #: base → language code → column (after the default language is known)
    text: dict[str, dict[str, _Col]] = field(default_factory=dict)
    plain: list[_Col] = field(default_factory=list)  # text columns without a language
    named: list[_Col] = field(default_factory=list)  # text columns with a language
    presentation: list[_Col] = field(default_factory=list)
    refused: list[_Col] = field(default_factory=list)
    unknown: list[_Col] = field(default_factory=list)
    props: list[_Col] = field(default_factory=list)

    def tcol(self, base: str, lang: str | None) -> _Col | None:
        cols = self.text.get(base, {})
        if lang is not None and lang in cols:
            return cols[lang]
        return next(iter(cols.values()), None)


# ---------------------------------------------------------------------------- reading


def _fail(code: str, message: str, name: str | None, path: str = "$") -> FormInvalid:
    return FormInvalid([Problem(path=path, code=code, message=message)], source=name)


def _read_source(source: str | Path | bytes | BinaryIO) -> tuple[bytes, str | None]:
    cap = MAX_XLSFORM_BYTES
    too_large = f"workbook over {cap // (1024 * 1024)} MiB; an XLSForm is far smaller"
    if isinstance(source, bytes | bytearray | memoryview):
        data, name = bytes(source), None
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        name = path.name
        try:
            if path.stat().st_size > cap:
                raise _fail("too_large", too_large, name)
            with path.open("rb") as f:
                data = f.read(cap + 1)
        except OSError as e:
            raise _fail("unreadable", f"cannot read file ({e.strerror})", name) from None
    else:
        raw_name = getattr(source, "name", None)
        name = os.path.basename(raw_name) if isinstance(raw_name, str) else None
        try:
            data = source.read(cap + 1)
        except OSError as e:
            raise _fail("unreadable", f"cannot read file ({e.strerror})", name) from None
        if not isinstance(data, bytes):
            raise _fail("unreadable", "the file must be opened in binary mode ('rb')", name)
    if len(data) > cap:
        raise _fail("too_large", too_large, name)
    return data, name


_NOT_XLSX = (
    "not an .xlsx workbook, or a damaged one: save the form from Excel or LibreOffice "
    "as 'Excel Workbook (.xlsx)'"
)


def _check_zip(data: bytes, name: str | None) -> None:
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise _fail("not_xlsx", "an old .xls workbook: save it as 'Excel Workbook (.xlsx)'", name)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _fail("not_xlsx", _NOT_XLSX, name) from None
    if len(infos) > _MAX_ZIP_MEMBERS or sum(i.file_size for i in infos) > MAX_UNZIPPED_BYTES:
        raise _fail(
            "too_large",
            f"workbook unzips to over {MAX_UNZIPPED_BYTES // (1024 * 1024)} MiB; "
            "an XLSForm is far smaller",
            name,
        )


def _read_sheet(ws: Any, problems: list[Problem]) -> _Sheet:
    name = str(ws.title)
    ws.reset_dimensions()  # trust the cells, not the sheet's own size claim
    header: tuple[object, ...] = ()
    rows: list[tuple[int, tuple[object, ...]]] = []
    for n, raw in enumerate(ws.iter_rows(values_only=True), start=1):
        if n > MAX_XLSFORM_ROWS:
            problems.append(
                Problem(
                    path=name,
                    code="too_many_rows",
                    message=f"sheet has over {MAX_XLSFORM_ROWS} rows; split the form or "
                    "delete rows that are not part of it",
                )
            )
            break
        values = tuple(raw)
        while values and _text(values[-1]) == "":
            values = values[:-1]
        if len(values) > MAX_XLSFORM_COLUMNS:
            problems.append(
                Problem(
                    path=f"{name}!{n}:{n}",
                    code="too_many_columns",
                    message=f"row has over {MAX_XLSFORM_COLUMNS} columns; delete the "
                    "columns that are not part of the form",
                )
            )
            break
        if n == 1:
            header = values
        elif values:
            rows.append((n, values))
    return _Sheet(name, header, rows)


def _open_workbook(data: bytes, name: str | None) -> tuple[dict[str, _Sheet], list[str]]:
    """The survey, choices and settings sheets (by lower-case name) and the other names."""
    _check_zip(data, name)
    sheets: dict[str, _Sheet] = {}
    others: list[str] = []
    problems: list[Problem] = []
    # openpyxl parses untrusted XML and zip parts and can fail in many ways (KeyError for a
    # missing part, ValueError, TypeError, ParseError, zlib.error …). None of them may leak:
    # at this boundary every failure becomes one FormInvalid.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(
                io.BytesIO(data), read_only=True, data_only=True, keep_links=False
            )
            try:
                for ws in wb.worksheets:
                    key = str(ws.title).strip().lower()
                    if key in ("survey", "choices", "settings") and key not in sheets:
                        sheets[key] = _read_sheet(ws, problems)
                    else:
                        others.append(str(ws.title))
            finally:
                wb.close()
    except Exception:
        raise _fail("not_xlsx", _NOT_XLSX, name) from None
    if problems:
        raise FormInvalid(problems, source=name)
    return sheets, others


# ---------------------------------------------------------------------------- import


@dataclass(slots=True)
class _Loc:
    """Where a form path came from, for mapping check_form's problems back to cells."""

    sheet: _Sheet
    header: _Header
    row: int
    base: str | None = None  # a fixed column (settings fields); None: decided by the path
    redirect: dict[str, str] = field(default_factory=dict)  # field → column actually used


@dataclass(slots=True)
class _Frame:
    kind: str  # root, group, repeat
    path: str
    row: int
    col: _Col | None
    fields: dict[str, Any]
    children: list[Item] = field(default_factory=list)

    def child_path(self) -> str:
        prefix = "$.items" if self.kind == "root" else f"{self.path}.items"
        return f"{prefix}[{len(self.children)}]"


class _Importer:
    def __init__(self, sheets: dict[str, _Sheet], others: list[str], source: str | None) -> None:
        self.source = source
        self.sheets = sheets
        self.others = others
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.headers: dict[str, _Header] = {}
        self.languages: list[str] = []
        self.lang_names: dict[str, str] = {}
        self.default = ""
        self.locs: dict[str, _Loc] = {}
        self.placeholders: set[str] = set()  # paths of rows that could not be imported
        self.missing_columns: set[tuple[str, str, str]] = set()
        self.select_rows = 0

    def problem(self, path: str, code: str, message: str) -> None:
        self.problems.append(Problem(path=path, code=code, message=message))

    def warn(self, path: str, code: str, message: str) -> None:
        self.warnings.append(Problem(path=path, code=code, message=message))

    def lang_label(self, code: str) -> str:
        name = self.lang_names.get(code)
        return f"{name} ({code})" if name else code

    def header_for(self, base: str, lang: str) -> str:
        return f"{base}::{self.lang_label(lang)}"

    # ------------------------------------------------------------------ headers

    def parse_header(self, sheet: _Sheet, kind: str) -> _Header:
        h = _Header()
        seen: dict[tuple[str, str | None], _Col] = {}
        # Cells right of the last header are in columns with no header: seen, then ignored.
        width = max([len(sheet.header), *(len(values) for _, values in sheet.rows)])
        for i in range(width):
            raw = sheet.header[i] if i < len(sheet.header) else None
            text = _text(raw)
            base, sep, rest = text.partition("::")
            base = _ALIASES.get(" ".join(base.split()).lower(), " ".join(base.split()).lower())
            if kind == "choices" and base == "value":
                base = "name"
            col = _Col(i, text, base)
            if not text:
                h.unknown.append(col)
            elif base in _SHEET_TEXTS[kind]:
                if not sep:
                    h.plain.append(col)
                    continue
                code = self.parse_language(sheet.name, col, rest.strip())
                if code is None:
                    continue
                col = _Col(i, text, base, code)
                if (base, code) in seen:
                    self.duplicate(sheet, col, seen[(base, code)])
                else:
                    seen[(base, code)] = col
                    h.named.append(col)
            elif not sep and base in _SHEET_COLUMNS[kind]:
                if (base, None) in seen:
                    self.duplicate(sheet, col, seen[(base, None)])
                else:
                    seen[(base, None)] = col
                    h.single[base] = col
            elif kind == "survey" and base in _REFUSED:
                h.refused.append(col)
            elif kind != "settings" and base in _PRESENTATION:
                h.presentation.append(col)
            elif kind == "choices" and not sep and _PROPERTY.fullmatch(text):
                h.props.append(col)
            else:
                h.unknown.append(col)
        return h

    def parse_language(self, sheet: str, col: _Col, part: str) -> str | None:
        where = f"{sheet}!{get_column_letter(col.index + 1)}1 ({col.header})"
        m = _LANG_NAMED.fullmatch(part)
        code, name = (m["code"].strip(), m["name"].strip()) if m else (part, "")
        if not m and not _LANG_CODE.fullmatch(part):
            self.problem(
                where,
                "bad_language",
                f"language '{_show(part)}' has no code: write it as "
                f"'{col.base}::{_show(part)} (xx)' with a 2-3 letter code such as 'ko' or 'en'",
            )
            return None
        if not _LANG_CODE.fullmatch(code):
            self.problem(
                where,
                "bad_language",
                f"language code '{_show(code)}' is not 2-3 lower-case letters: use a code "
                "such as 'ko' or 'en'",
            )
            return None
        if name:
            self.lang_names.setdefault(code, name)
        return code

    def duplicate(self, sheet: _Sheet, col: _Col, first: _Col) -> None:
        self.problem(
            sheet.at(1, col),
            "duplicate_column",
            f"this column repeats column {get_column_letter(first.index + 1)} "
            f"({first.header}); delete one of them",
        )

    def resolve_languages(self) -> None:
        """Languages come from the survey's label columns; plain columns are the default's."""
        survey, survey_sheet = self.headers["survey"], self.sheets["survey"]
        raw = self.settings_value("default_language")
        default: str | None = None
        if raw:
            m = _LANG_NAMED.fullmatch(raw)
            by_name = {n.lower(): c for c, n in self.lang_names.items()}
            if m and _LANG_CODE.fullmatch(m["code"].strip()):
                default = m["code"].strip()
            elif _LANG_CODE.fullmatch(raw):
                default = raw
            elif raw.lower() in by_name:
                default = by_name[raw.lower()]
            else:
                self.problem(
                    self.settings_at("default_language"),
                    "bad_language",
                    f"default_language '{_show(raw)}' is not a language code: write a 2-3 "
                    "letter code such as 'ko', or 'Korean (ko)'",
                )
        label_cols = sorted(
            (c for c in survey.named + survey.plain if c.base == "label"), key=lambda c: c.index
        )
        if default is None and not raw and any(h.plain for h in self.headers.values()):
            first = next(h.plain[0] for h in self.headers.values() if h.plain)
            sheet = next(s for k, s in self.sheets.items() if first in self.headers[k].plain)
            self.problem(
                sheet.at(1, first),
                "no_default_language",
                f"column '{first.header}' has no language: add default_language (such as "
                f"'en') to the settings sheet, or rename it '{first.header}::English (en)'",
            )
        langs: list[str] = []
        for col in label_cols:
            code = col.lang or default
            if code and code not in langs:
                langs.append(code)
        if not label_cols and not any(
            _text(v).partition("::")[0].strip().lower() == "label" for v in survey_sheet.header
        ):
            self.problem(
                _row_at("survey", 1, "label"),
                "no_label_column",
                "the survey sheet has no label column: add one per language, such as "
                "'label::Korean (ko)' and 'label::English (en)'",
            )
        self.languages = langs
        if default is not None and default not in langs and langs:
            self.problem(
                self.settings_at("default_language"),
                "bad_language",
                f"default_language '{default}' has no label column in the survey sheet: add "
                f"'label::{self.lang_label(default)}' or change default_language",
            )
            default = None
        self.default = default or (langs[0] if langs else "en")
        for key, h in self.headers.items():
            sheet = self.sheets[key]
            for col in h.named + h.plain:
                code = col.lang or default
                if code is None:
                    continue
                if code not in langs:
                    if langs:
                        self.problem(
                            sheet.at(1, col),
                            "unknown_language",
                            f"language '{self.lang_label(code)}' has no label column in the "
                            f"survey sheet: add 'label::{self.lang_label(code)}' there or "
                            "delete this column",
                        )
                    continue
                cols = h.text.setdefault(col.base, {})
                if code in cols:
                    self.duplicate(sheet, col, cols[code])
                else:
                    cols[code] = _Col(col.index, col.header, col.base, code)

    # ------------------------------------------------------------------ cells

    def texts(
        self,
        sheet: _Sheet,
        h: _Header,
        row: int,
        values: tuple[object, ...],
        base: str,
        *,
        what: str,
        required: bool,
    ) -> Text | None:
        """A text in every form language, each missing one reported at its cell."""
        cols = h.text.get(base, {})
        got = {lang: s for lang, col in cols.items() if (s := sheet.value(values, col))}
        if not got and not required:
            return None
        for lang in self.languages:
            if lang in got:
                continue
            col = cols.get(lang)
            header = self.header_for(base, lang)
            if col is not None:
                self.problem(
                    sheet.at(row, col),
                    "missing_translation",
                    f"{what} in {self.lang_label(lang)} is empty: fill it in "
                    "(every text is needed in each form language)",
                )
            elif (sheet.name, base, lang) not in self.missing_columns:
                self.missing_columns.add((sheet.name, base, lang))
                self.problem(
                    _row_at(sheet.name, row, header),
                    "missing_translation",
                    f"no {what} in {self.lang_label(lang)}: add a '{header}' column "
                    f"to the {sheet.name} sheet",
                )
        return got

    def flag(
        self, sheet: _Sheet, row: int, values: tuple[object, ...], col: _Col | None, name: str
    ) -> bool:
        raw = sheet.value(values, col)
        if raw.lower() in _TRUE:
            return True
        if raw.lower() not in _FALSE and col is not None:
            self.problem(
                sheet.at(row, col), f"bad_{name}", f"{name} must be 'yes' or 'no' (or empty)"
            )
        return False

    def whole(
        self, sheet: _Sheet, row: int, values: tuple[object, ...], col: _Col | None
    ) -> int | None:
        raw = sheet.value(values, col)
        if not raw or col is None:
            return None
        if not _WHOLE.fullmatch(raw):
            self.problem(sheet.at(row, col), "bad_count", f"{col.base} must be a whole number")
            return None
        return int(raw)

    def cell_checks(self, sheet: _Sheet, h: _Header, row: int, values: tuple[object, ...]) -> None:
        """Refuse cells that change meaning; warn about presentation-only cells."""
        for col in h.refused:
            if sheet.value(values, col):
                self.problem(sheet.at(row, col), "unsupported_column", _REFUSED[col.base])
        for col in h.presentation:
            if sheet.value(values, col):
                self.warn(sheet.at(row, col), "ignored_column", _PRESENTATION[col.base])

    def unknown_columns(self, sheet: _Sheet, h: _Header) -> None:
        for col in h.unknown:
            used = sum(1 for _, values in sheet.rows if sheet.value(values, col))
            if not used:
                continue
            what = f"column '{_show(col.header)}'" if col.header else "a column with no header"
            self.warn(
                sheet.at(1, col),
                "unknown_column",
                f"{what} is not an XLSForm column sealsync reads; its {used} filled "
                f"cell{'s' if used != 1 else ''} are ignored",
            )

    # ------------------------------------------------------------------ settings

    def settings_row(self) -> tuple[int, tuple[object, ...]]:
        sheet = self.sheets.get("settings")
        if sheet is None or not sheet.rows:
            return 2, ()
        return sheet.rows[0]

    def settings_value(self, base: str) -> str:
        sheet = self.sheets.get("settings")
        if sheet is None:
            return ""
        return sheet.value(self.settings_row()[1], self.headers["settings"].single.get(base))

    def settings_at(self, base: str) -> str:
        row = self.settings_row()[0]
        col = self.headers["settings"].single.get(base) if "settings" in self.sheets else None
        if col is None:
            return _row_at("settings", row, base)
        return self.sheets["settings"].at(row, col)

    def settings(self) -> tuple[str, int, Text]:
        sheet = self.sheets.get("settings")
        if sheet is None:  # reported in run()
            return "invalid", 1, {lang: "-" for lang in self.languages}
        h = self.headers["settings"]
        row, values = self.settings_row()
        for extra_row, _ in sheet.rows[1:]:
            self.warn(
                f"settings!{extra_row}:{extra_row}",
                "ignored_row",
                "only the first settings row is read; this row is ignored",
            )
        for col in h.presentation + h.unknown:
            if sheet.value(values, col):
                self.warn(
                    sheet.at(row, col),
                    "ignored_setting",
                    f"setting '{_show(col.header)}' is ignored by sealsync",
                )
        form_id = self.settings_value("form_id")
        if not form_id:
            self.problem(
                self.settings_at("form_id"),
                "missing_form_id",
                "form_id is missing: give the form an id such as 'escapee-interview'",
            )
            form_id = "invalid"
        self.locs["$.id"] = _Loc(sheet, h, row, base="form_id")
        self.locs["$.version"] = _Loc(sheet, h, row, base="version")
        self.locs["$.title"] = _Loc(sheet, h, row, base="form_title")
        self.locs["$.default_language"] = _Loc(sheet, h, row, base="default_language")
        raw = self.settings_value("version")
        version = 1
        if not raw:
            self.problem(
                self.settings_at("version"),
                "missing_version",
                "version is missing: give the form a whole-number version such as 1 or "
                "2024010101, and raise it whenever the form changes",
            )
        elif not re.fullmatch(r"[0-9]{1,10}", raw) or not 1 <= int(raw) < 2**31:
            self.problem(
                self.settings_at("version"),
                "bad_version",
                "version must be a whole number from 1 to 2147483647 (a date-style version "
                "such as 2024010101 fits; one with more digits does not)",
            )
        else:
            version = int(raw)
        title = self.texts(sheet, h, row, values, "form_title", what="form_title", required=True)
        return form_id, version, title or {}

    # ------------------------------------------------------------------ survey

    def parse_type(self, raw: str) -> tuple[str, str | None, tuple[str, str] | None]:
        """(kind, list name, (code, message) of a problem); kinds: item types, begin/end."""
        t = " ".join(raw.split())
        low = t.lower()
        if not t:
            return "", None, ("missing_type", "type is empty: fill in a type, or clear the row")
        if low in _SIMPLE_TYPES:
            return _SIMPLE_TYPES[low], None, None
        control = low.replace("_", " ")
        if control in _BEGIN_END:
            return control, None, None
        m = _SELECT.fullmatch(t)
        if m:
            kind = "select_one" if "one" in m[1].lower() else "select_multiple"
            words = (m[2] or "").split()
            if len(words) == 1:
                return kind, words[0], None
            if len(words) == 2 and words[1].lower() == "or_other":
                why = (
                    "'or_other' is not supported: add an 'other' choice to the list and a "
                    "text question relevant when it is selected"
                )
                return "", None, ("unsupported_type", why)
            return "", None, ("bad_type", f"write '{kind} LIST' with the name of one choice list")
        reason = _UNSUPPORTED_TYPES.get(low) or _UNSUPPORTED_TYPES.get(low.split(" ")[0])
        if reason:
            return "", None, ("unsupported_type", f"type '{_show(t)}' is not supported: {reason}")
        return "", None, ("unknown_type", f"unknown type '{_show(t)}': use one of {_SUPPORTED}")

    def has_columns(self, sheet: str, **cols: _Col | None) -> bool:
        """Report each required column that is missing; true if none is."""
        for base, col in cols.items():
            if col is None:
                self.problem(
                    _row_at(sheet, 1, base),
                    "missing_column",
                    f"the {sheet} sheet has no '{base}' column: add it",
                )
        return all(c is not None for c in cols.values())

    def survey(self) -> list[Item]:
        sheet = self.sheets["survey"]
        h = self.headers["survey"]
        tcol, ncol = h.single.get("type"), h.single.get("name")
        if not self.has_columns("survey", type=tcol, name=ncol) or tcol is None or ncol is None:
            return []
        root = _Frame("root", "$", 0, None, {})
        stack = [root]
        for row, values in sheet.rows:
            kind, list_name, bad = self.parse_type(sheet.value(values, tcol))
            name = sheet.value(values, ncol)
            top = stack[-1]
            if bad:
                self.problem(sheet.at(row, tcol), *bad)
                if name:  # stands in so that references to it do not cascade
                    path = top.child_path()
                    self.placeholders.add(path)
                    self.locs[path] = _Loc(sheet, h, row)
                    label = {lang: "-" for lang in self.languages}
                    top.children.append(Item(name=name, type="text", label=label))
                continue
            if kind.startswith("end "):
                self.end(sheet, row, tcol, stack, kind.split(" ")[1])
                continue
            self.cell_checks(sheet, h, row, values)
            itype = kind.split(" ")[1] if kind.startswith("begin ") else kind
            if itype in ("select_one", "select_multiple"):
                self.select_rows += 1
            if not name:
                self.problem(
                    sheet.at(row, ncol),
                    "missing_name",
                    "name is empty: give every question and group a name "
                    "(letters, digits and _, not starting with a digit)",
                )
                name = f"_unnamed_row{row}"
            path = top.child_path()
            loc = _Loc(sheet, h, row)
            self.locs[path] = loc
            fields = self.item_fields(sheet, h, row, values, name, itype, list_name, loc)
            if kind.startswith("begin "):
                if len(stack) > MAX_DEPTH:
                    self.problem(
                        sheet.at(row, tcol),
                        "too_deep",
                        f"groups are nested more than {MAX_DEPTH} deep; flatten them",
                    )
                stack.append(_Frame(itype, path, row, tcol, fields))
            else:
                top.children.append(Item(**fields))
        while len(stack) > 1:
            frame = stack.pop()
            self.problem(
                sheet.at(frame.row, tcol),
                "unbalanced_group",
                f"'begin {frame.kind}' is never closed: add an 'end {frame.kind}' row "
                "after its last question",
            )
            stack[-1].children.append(Item(**frame.fields, items=tuple(frame.children)))
        self.unknown_columns(sheet, h)
        return root.children

    def end(self, sheet: _Sheet, row: int, tcol: _Col, stack: list[_Frame], kind: str) -> None:
        if len(stack) == 1:
            self.problem(
                sheet.at(row, tcol),
                "unbalanced_group",
                f"'end {kind}' has no 'begin {kind}' above it: delete this row or add the "
                "missing begin row",
            )
            return
        frame = stack.pop()
        if frame.kind != kind:
            self.problem(
                sheet.at(row, tcol),
                "unbalanced_group",
                f"'end {kind}' closes the 'begin {frame.kind}' on row {frame.row}: "
                f"write 'end {frame.kind}'",
            )
        stack[-1].children.append(Item(**frame.fields, items=tuple(frame.children)))

    def item_fields(
        self,
        sheet: _Sheet,
        h: _Header,
        row: int,
        values: tuple[object, ...],
        name: str,
        itype: str,
        list_name: str | None,
        loc: _Loc,
    ) -> dict[str, Any]:
        col = h.single.get

        def cell(base: str) -> str:
            return sheet.value(values, col(base))

        out: dict[str, Any] = {
            "name": name,
            "type": itype,
            "label": self.texts(sheet, h, row, values, "label", what="label", required=True),
            "hint": self.texts(sheet, h, row, values, "hint", what="hint", required=False),
            "choices": list_name,
        }
        required = cell("required")
        if required.lower() in _TRUE:
            out["required"] = True
        elif required.lower() not in _FALSE:
            out["required"] = required
        for key in ("relevant", "choice_filter"):
            if value := cell(key):
                out[key] = value
        constraint = cell("constraint")
        if constraint:
            message = self.texts(
                sheet,
                h,
                row,
                values,
                "constraint_message",
                what="constraint_message",
                required=True,
            )
            out["constraints"] = (Constraint(expr=constraint, message=message or {}),)
        elif filled := [
            c for c in h.text.get("constraint_message", {}).values() if sheet.value(values, c)
        ]:
            self.warn(
                sheet.at(row, filled[0]),
                "ignored_column",
                "constraint_message without a constraint is ignored",
            )
        out["sensitive"] = self.flag(sheet, row, values, col("sensitive"), "sensitive")
        identity = cell("identity")
        if identity and identity in IDENTITY_ROLES:
            out["identity"] = identity
        elif identity:
            idcol = col("identity")
            assert idcol is not None
            self.problem(
                sheet.at(row, idcol),
                "bad_identity",
                f"identity must be one of {', '.join(IDENTITY_ROLES)} (or empty)",
            )
        lo = self.whole(sheet, row, values, col("min_count"))
        hi = self.whole(sheet, row, values, col("max_count"))
        count = cell("repeat_count")
        rcol = col("repeat_count")
        if count and rcol is not None:
            if lo is not None or hi is not None:
                self.problem(
                    sheet.at(row, rcol),
                    "unsupported_repeat_count",
                    "use either repeat_count or min_count/max_count, not both",
                )
            elif _WHOLE.fullmatch(count):
                lo = hi = int(count)
                loc.redirect.update(min_count="repeat_count", max_count="repeat_count")
            else:
                self.problem(
                    sheet.at(row, rcol),
                    "unsupported_repeat_count",
                    "only a whole-number repeat_count is supported, not a computed one; "
                    "bound the repeat with min_count and max_count instead",
                )
        out["min_count"], out["max_count"] = lo, hi
        return out

    # ------------------------------------------------------------------ choices

    def choices(self) -> dict[str, tuple[Choice, ...]]:
        sheet = self.sheets.get("choices")
        if sheet is None:
            if self.select_rows:
                self.problem(
                    "choices",
                    "missing_sheet",
                    "the workbook has no choices sheet, but the survey has select questions: "
                    "add a choices sheet with list_name, name and label columns",
                )
            return {}
        h = self.headers["choices"]
        lcol, ncol = h.single.get("list_name"), h.single.get("name")
        if (
            not self.has_columns("choices", list_name=lcol, name=ncol)
            or lcol is None
            or ncol is None
        ):
            return {}
        lists: dict[str, list[Choice]] = {}
        for row, values in sheet.rows:
            self.cell_checks(sheet, h, row, values)
            list_name, value = sheet.value(values, lcol), sheet.value(values, ncol)
            for c, v in ((lcol, list_name), (ncol, value)):
                if not v:
                    self.problem(sheet.at(row, c), f"missing_{c.base}", f"{c.base} is empty")
            label = self.texts(sheet, h, row, values, "label", what="label", required=True)
            if not list_name or not value:
                continue
            props = {c.header: v for c in h.props if (v := sheet.value(values, c))}
            choices = lists.setdefault(list_name, [])
            if not choices:
                self.locs[f"$.choices.{list_name}"] = _Loc(sheet, h, row, base="list_name")
            self.locs[f"$.choices.{list_name}[{len(choices)}]"] = _Loc(sheet, h, row)
            choices.append(Choice(value=value, label=label or {}, properties=props))
        self.unknown_columns(sheet, h)
        return {k: tuple(v) for k, v in lists.items()}

    # ------------------------------------------------------------------ checks

    def map_problem(self, p: Problem) -> Problem | None:
        """check_form's ``$.items[2].relevant`` → ``survey!F4 (relevant)``; None: drop it."""
        if p.code in ("missing_text", "missing_translation"):
            return None  # reported cell by cell while reading (texts())
        cuts = [m.start() for m in re.finditer(r"[.\[]", p.path)] + [len(p.path)]
        if p.code != "duplicate_name" and any(p.path[:c] in self.placeholders for c in cuts):
            return None  # about a row already reported as not importable
        path = "survey" if p.path == "$.items" else p.path  # empty form, too many items
        for cut in reversed(cuts):
            loc = self.locs.get(p.path[:cut])
            if loc is not None:
                path = self.cell_path(loc, p.path[cut:])
                break
        message = re.sub(r"\$\.items\[\d+\](?:\.items\[\d+\])*", self.name_cell, p.message)
        return Problem(path=path, code=p.code, message=message)

    def name_cell(self, m: re.Match[str]) -> str:
        loc = self.locs.get(m[0])
        col = self.headers["survey"].single.get("name")
        if loc is None or col is None:
            return m[0]
        return loc.sheet.at(loc.row, col).split(" ")[0]

    def cell_path(self, loc: _Loc, rest: str) -> str:
        words = re.findall(r"[A-Za-z_]\w*", rest)
        lang: str | None = None
        if loc.base is not None:
            base = loc.base
            lang = words[0] if words else None
        elif not words or words[0] in ("items", "choices", "type"):
            base = "type"
        elif words[0] == "constraints":
            base = "constraint_message" if words[1:2] == ["message"] else "constraint"
            lang = words[2] if len(words) > 2 else None
        elif words[0] in ("label", "hint"):
            base, lang = words[0], (words[1] if len(words) > 1 else None)
        else:
            base = loc.redirect.get(words[0], _FIELD_COLUMN.get(words[0], words[0]))
        col = loc.header.tcol(base, lang) if base in _TEXT_COLUMNS else loc.header.single.get(base)
        if col is None:
            return _row_at(loc.sheet.name, loc.row, base)
        return loc.sheet.at(loc.row, col)

    # ------------------------------------------------------------------ all

    def run(self) -> ImportResult:
        if "survey" not in self.sheets:
            found = ", ".join(f"'{_show(s)}'" for s in self.others) or "none"
            self.problem(
                "survey",
                "missing_sheet",
                f"the workbook has no survey sheet (sheets found: {found}): an XLSForm "
                "needs sheets named survey, choices and settings",
            )
            return self.finish(None)
        if "settings" not in self.sheets:
            self.problem(
                "settings",
                "missing_sheet",
                "the workbook has no settings sheet: add one with the columns form_id, "
                "version, form_title and default_language",
            )
        for name in self.others:
            self.warn(_show(name), "ignored_sheet", f"sheet '{_show(name)}' is ignored")
        for key, sheet in self.sheets.items():
            self.headers[key] = self.parse_header(sheet, key)
        self.resolve_languages()
        if not self.languages:  # every text depends on them: nothing more can be checked
            return self.finish(None)
        form_id, version, title = self.settings()
        items = self.survey()
        choices = self.choices()
        form = Form(
            id=form_id,
            version=version,
            title=title,
            languages=tuple(self.languages),
            default_language=self.default,
            items=tuple(items),
            choices=choices,
        )
        checked = check_form(form)
        for p in checked:
            mapped = self.map_problem(p)
            if mapped is not None:
                self.problems.append(mapped)
        return self.finish(form)

    def finish(self, form: Form | None) -> ImportResult:
        if self.problems or form is None:
            raise FormInvalid(sorted(self.problems, key=_order), source=self.source)
        return ImportResult(form=form, warnings=tuple(sorted(self.warnings, key=_order)))


_SHEET_ORDER = {"$": 0, "settings": 1, "survey": 2, "choices": 3}
_CELL = re.compile(r"([^!]*)!(?:([A-Z]+)(\d+)|(\d+):\d+)")


def _order(p: Problem) -> tuple[int, int, int]:
    """Problems sorted by sheet, then row, then column."""
    m = _CELL.match(p.path)
    sheet = m[1] if m else p.path.split(" ")[0]
    rank = _SHEET_ORDER.get(sheet.lower(), 4)
    if m is None:
        return rank, 0, 0
    if m[2]:
        col = 0
        for ch in m[2]:
            col = col * 26 + ord(ch) - 64
        return rank, int(m[3]), col
    return rank, int(m[4]), 0


def import_xlsform(source: str | Path | bytes | BinaryIO) -> ImportResult:
    """Read and check an XLSForm workbook (a path, its bytes or a binary file object).

    Returns the form and the warnings about what was ignored. Raises
    :class:`~schemas.errors.FormInvalid` listing every problem, each with its cell.
    """
    data, name = _read_source(source)
    sheets, others = _open_workbook(data, name)
    return _Importer(sheets, others, name).run()
