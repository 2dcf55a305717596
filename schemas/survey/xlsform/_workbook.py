"""Reading an XLSForm workbook into sheets (docs/spec/survey-language.md §9).

A workbook is hostile input. The file is capped at :data:`MAX_XLSFORM_BYTES`, its unzipped
parts at :data:`MAX_UNZIPPED_BYTES` and each sheet at :data:`MAX_XLSFORM_ROWS` rows of at
most :data:`MAX_XLSFORM_COLUMNS` columns; it is opened read-only with cached values only
(formulas are never evaluated, external links never followed), and every failure on the
way becomes one :class:`~schemas.errors.FormInvalid`. The result is a few plain
:class:`_Sheet` values: a header row and the non-blank rows, each cell as
:func:`_text` shows it.
"""

from __future__ import annotations

import datetime
import io
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import openpyxl
from openpyxl.utils import get_column_letter

from ...errors import FormInvalid, Problem

__all__ = [
    "MAX_UNZIPPED_BYTES",
    "MAX_XLSFORM_BYTES",
    "MAX_XLSFORM_COLUMNS",
    "MAX_XLSFORM_ROWS",
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
    return str(v).replace("\r\n", "\n").strip()  # a line break as Excel may store it


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
                    sheet=name,
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
                    sheet=name,
                    row=n,
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
