"""XLSForm header rows, languages and cells (docs/spec/survey-language.md §9).

:class:`_Columns` is the half of the importer that knows a sheet's columns: it sorts each
header into the columns sealsync reads, refuses or ignores, resolves the form's languages
from the ``label::Language (code)`` headers and ``default_language``, and reads texts,
flags and whole numbers from a row, reporting each problem at its cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openpyxl.utils import get_column_letter

from ...errors import Problem
from .._model import Text
from ._tables import (
    _ALIASES,
    _FALSE,
    _LANG_CODE,
    _LANG_NAMED,
    _PRESENTATION,
    _PROPERTY,
    _REFUSED,
    _SHEET_COLUMNS,
    _SHEET_TEXTS,
    _TRUE,
    _WHOLE,
)
from ._workbook import _Col, _row_at, _Sheet, _show, _text


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


class _Columns:
    """Header parsing, languages and cell readers over the importer's state."""

    sheets: dict[str, _Sheet]
    problems: list[Problem]
    warnings: list[Problem]
    headers: dict[str, _Header]
    languages: list[str]
    lang_names: dict[str, str]
    default: str
    missing_columns: set[tuple[str, str, str]]

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
