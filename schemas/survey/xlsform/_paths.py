"""Mapping check_form's problems back to XLSForm cells (docs/spec/survey-language.md §9).

The imported form passes the same checks as any other (§10); each problem's path, such as
``$.items[2].relevant``, is then mapped back to the cell it came from, such as
``survey!F4 (relevant)``, and problems are sorted by sheet, row and column. Every problem
and warning then carries its sheet and row as fields, and the name of the item (or the
choice list) on that row (:meth:`_Paths.placed`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import msgspec

from ...errors import Problem
from ._columns import _Header
from ._tables import _FIELD_COLUMN, _TEXT_COLUMNS
from ._workbook import _row_at, _Sheet


@dataclass(slots=True)
class _Loc:
    """Where a form path came from, for mapping check_form's problems back to cells."""

    sheet: _Sheet
    header: _Header
    row: int
    base: str | None = None  # a fixed column (settings fields); None: decided by the path
    redirect: dict[str, str] = field(default_factory=dict)  # field → column actually used


class _Paths:
    """check_form's problem paths → cells, over the importer's state."""

    headers: dict[str, _Header]
    locs: dict[str, _Loc]
    placeholders: set[str]
    sheets: dict[str, _Sheet]
    #: (sheet name, row) → the item named on that row (survey) or its list (choices)
    row_items: dict[tuple[str, int], str]

    def placed(self, p: Problem) -> Problem:
        """``p`` with the sheet and row its path names, and the item on that row."""
        m = _CELL.match(p.path)
        sheet, row = (m[1], int(m[3] or m[4])) if m else (p.path.split(" ")[0], None)
        if sheet not in {s.name for s in self.sheets.values()}:
            return p
        item = self.row_items.get((sheet, row)) if row is not None else None
        return msgspec.structs.replace(p, sheet=sheet, row=row, item=item)

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
        elif words[0] == "properties":
            name = rest[len(".properties.") :]
            col = next((c for c in loc.header.props if c.header == name), None)
            if col is None:
                return _row_at(loc.sheet.name, loc.row, name or "properties")
            return loc.sheet.at(loc.row, col)
        else:
            base = loc.redirect.get(words[0], _FIELD_COLUMN.get(words[0], words[0]))
        col = loc.header.tcol(base, lang) if base in _TEXT_COLUMNS else loc.header.single.get(base)
        if col is None:
            return _row_at(loc.sheet.name, loc.row, base)
        return loc.sheet.at(loc.row, col)


_SHEET_ORDER = {"$": 0, "settings": 1, "survey": 2, "choices": 3}
_CELL = re.compile(r"([^!]*)!(?:([A-Z]+)([0-9]+)|([0-9]+):[0-9]+)")


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
