"""Write XLSForm workbooks for tests with openpyxl (workbooks are generated, never committed).

:func:`write_workbook` writes sheets given as lists of rows; :func:`form_to_sheets` lays a
:class:`~schemas.survey.Form` out as an XLSForm the way a person would, so that importing
it again must give back the same form.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl

from schemas.survey import Form, Item

__all__ = ["LANGUAGE_NAMES", "Rows", "form_to_sheets", "write_workbook", "write_xlsform"]

Rows = list[list[object]]

LANGUAGE_NAMES = {"ko": "Korean", "en": "English", "ja": "Japanese", "zh": "Chinese"}


def write_workbook(path: Path, sheets: dict[str, Rows]) -> Path:
    """Write ``sheets`` (name → rows, the first row the header) to ``path`` as .xlsx."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is None or value == "":
                    continue
                cell = ws.cell(row=r, column=c, value=value)
                if isinstance(value, str) and value.startswith("="):
                    cell.data_type = "s"  # text, not a formula
    wb.save(path)
    return path


def _lang(code: str) -> str:
    return f"{LANGUAGE_NAMES.get(code, code)} ({code})"


def form_to_sheets(form: Form) -> dict[str, Rows]:
    """The survey, choices and settings sheets of ``form`` (expr constraints only)."""
    langs = form.languages
    survey_header = [
        "type",
        "name",
        *(f"label::{_lang(x)}" for x in langs),
        *(f"hint::{_lang(x)}" for x in langs),
        "required",
        "relevant",
        "constraint",
        *(f"constraint_message::{_lang(x)}" for x in langs),
        "choice_filter",
        "sensitive",
        "identity",
        "min_count",
        "max_count",
    ]
    survey: Rows = [list(survey_header)]

    def row(it: Item, type_: str) -> list[object]:
        if len(it.constraints) > 1:
            raise ValueError(f"{it.name}: XLSForm has one constraint per row")
        c = it.constraints[0] if it.constraints else None
        if c is not None and c.kind != "expr":
            raise ValueError(f"{it.name}: only expr constraints round-trip exactly")
        required: object = it.required
        if isinstance(required, bool):
            required = "yes" if required else ""
        return [
            type_,
            it.name,
            *(it.label[x] for x in langs),
            *((it.hint or {}).get(x, "") for x in langs),
            required,
            it.relevant or "",
            c.expr if c else "",
            *((c.message[x] if c else "") for x in langs),
            it.choice_filter or "",
            "yes" if it.sensitive else "",
            it.identity or "",
            "" if it.min_count is None else it.min_count,
            "" if it.max_count is None else it.max_count,
        ]

    def emit(items: tuple[Item, ...]) -> None:
        for it in items:
            if it.type in ("group", "repeat"):
                survey.append(row(it, f"begin {it.type}"))
                emit(it.items)
                survey.append([f"end {it.type}"])
            elif it.type in ("select_one", "select_multiple"):
                survey.append(row(it, f"{it.type} {it.choices}"))
            else:
                survey.append(row(it, it.type))

    emit(form.items)

    props: list[str] = []
    for choices in form.choices.values():
        for ch in choices:
            props += [k for k in ch.properties if k not in props]
    choices_rows: Rows = [["list_name", "name", *(f"label::{_lang(x)}" for x in langs), *props]]
    for list_name, choices in form.choices.items():
        for ch in choices:
            choices_rows.append(
                [
                    list_name,
                    ch.value,
                    *(ch.label[x] for x in langs),
                    *(ch.properties.get(p, "") for p in props),
                ]
            )

    settings: Rows = [
        ["form_id", "version", *(f"form_title::{_lang(x)}" for x in langs), "default_language"],
        [form.id, form.version, *(form.title[x] for x in langs), form.default_language],
    ]
    return {"survey": survey, "choices": choices_rows, "settings": settings}


def write_xlsform(form: Form, path: Path) -> Path:
    """Write ``form`` to ``path`` as an XLSForm workbook."""
    return write_workbook(path, form_to_sheets(form))
