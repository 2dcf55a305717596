"""XLSForm sheets to a form (docs/spec/survey-language.md §9).

:class:`_Importer` maps the settings, survey and choices sheets to a
:class:`~schemas.survey.Form` field by field, refusing what would change meaning and
warning about what only changes presentation, then checks the form with
:func:`~schemas.survey.check_form` and maps its problems back to cells (``_paths``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ...errors import FormInvalid, Problem
from .._check import check_form
from .._model import IDENTITY_ROLES, Choice, Constraint, Form, Item, Text
from .._structure import MAX_DEPTH
from ._columns import _Columns, _Header
from ._paths import _Loc, _order, _Paths
from ._tables import (
    _BEGIN_END,
    _FALSE,
    _SELECT,
    _SIMPLE_TYPES,
    _SUPPORTED,
    _TRUE,
    _UNSUPPORTED_TYPES,
    _WHOLE,
)
from ._workbook import _Col, _row_at, _Sheet, _show

__all__ = ["ImportResult"]


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    """A checked form read from an XLSForm, and what was ignored on the way."""

    form: Form
    #: Presentation-only cells that were ignored, each with its sheet, row and column.
    warnings: tuple[Problem, ...] = ()


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


class _Importer(_Columns, _Paths):
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
        self.row_items: dict[tuple[str, int], str] = {}

    # ------------------------------------------------------------------ settings

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
            if name:
                self.row_items[(sheet.name, row)] = name
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
            if list_name:
                self.row_items[(sheet.name, row)] = list_name
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
            problems = [self.placed(p) for p in sorted(self.problems, key=_order)]
            raise FormInvalid(problems, source=self.source)
        warnings = tuple(self.placed(p) for p in sorted(self.warnings, key=_order))
        return ImportResult(form=form, warnings=warnings)
