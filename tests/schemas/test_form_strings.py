"""A form's own strings are exact (survey-language.md §2, §3, §5.1; schemas/text.py).

Names, choice values, language codes and form ids are matched whole, so a final newline
is refused; texts (title, description, labels, hints, constraint messages, choice labels
and property values) may hold newlines and tabs but no other control character and no
bidi embedding, override or isolate, which would reorder what an interviewer reads.
Each refusal names its path, its item and its line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from xlsform_writer import write_workbook

from schemas.errors import FormInvalid, Problem
from schemas.survey import import_xlsform, load_form

HEAD = (
    'id = "t"\nversion = 1\ntitle = {en = "T"}\n'
    'languages = ["en"]\ndefault_language = "en"\n'
    '[[choices.yn]]\nvalue = "y"\nlabel = {en = "Yes"}\nproperties = {kind = "a"}\n'
)
ITEM = '[[items]]\nname = "q"\ntype = "text"\nlabel = {en = "Q"}\n'


def refused(text: str) -> list[tuple[str, str, str | None, int | None, str]]:
    with pytest.raises(FormInvalid) as e:
        load_form(text.encode())
    return [(p.path, p.code, p.item, p.line, p.message) for p in e.value.problems]


def toml_escape(s: str) -> str:
    return "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in s)


def message(char: str, at: int) -> str:
    return (
        f"text holds U+{ord(char):04X}, a control or bidi formatting character, at character "
        f"{at}: only newlines and tabs may shape a text; remove it"
    )


def _msg(v: str) -> str:
    return f'{{en = "M{v}"}}'


BAD_TEXT = ["\x00", "\x1b", "\r", "\x7f", "\x85", "\u202e", "\u2066", "\u2028"]


@pytest.mark.parametrize("char", BAD_TEXT, ids=[f"U+{ord(c):04X}" for c in BAD_TEXT])
@pytest.mark.parametrize(
    ("where", "edit", "path", "item", "line"),
    [
        ("title", lambda t, v: t.replace('title = {en = "T"}', f'title = {{en = "T{v}"}}'),
         "$.title.en", None, 3),
        ("label", lambda t, v: t.replace('label = {en = "Q"}', f'label = {{en = "Q{v}"}}'),
         "$.items[0].label.en", "q", 13),
        ("hint", lambda t, v: t + f'hint = {{en = "Q{v}"}}\n', "$.items[0].hint.en", "q", 14),
        ("message", lambda t, v: t + f'constraints = [{{max_length = 3, message = {_msg(v)}}}]\n',
         "$.items[0].constraints[0].message.en", "q", 14),
        ("choice", lambda t, v: t.replace('{en = "Yes"}', f'{{en = "Y{v}"}}'),
         "$.choices.yn[0].label.en", "yn", 8),
        ("property", lambda t, v: t.replace('{kind = "a"}', f'{{kind = "a{v}"}}'),
         "$.choices.yn[0].properties.kind", "yn", 9),
        ("description", lambda t, v: t + f'[description]\nen = "D{v}"\n',
         "$.description.en", None, 15),
    ],
    ids=["title", "label", "hint", "message", "choice", "property", "description"],
)  # fmt: skip
def test_a_control_character_in_a_text_is_refused_at_its_place(
    where: str, edit: object, path: str, item: str | None, line: int, char: str
) -> None:
    text = edit(HEAD + ITEM, toml_escape(char))  # type: ignore[operator]
    assert refused(text) == [(path, "control_character", item, line, message(char, 2))]


def test_newlines_and_tabs_shape_a_text() -> None:
    text = (HEAD + ITEM).replace('label = {en = "Q"}', 'label = {en = """Q\n\tone\n\ttwo"""}')
    form = load_form(text.encode())
    assert form.items[0].label == {"en": "Q\n\tone\n\ttwo"}


def test_a_property_name_is_one_a_filter_can_name() -> None:
    text = (HEAD + ITEM).replace('{kind = "a"}', '{"kind\\n" = "a", "2x" = "b", ok-1 = "c"}')
    assert refused(text) == [
        ("$.choices.yn[0].properties.kind\n", "bad_property", "yn", 9,
         "property names are 1-64 of A-Z a-z 0-9 _ -, not a digit or - first"),
        ("$.choices.yn[0].properties.2x", "bad_property", "yn", 9,
         "property names are 1-64 of A-Z a-z 0-9 _ -, not a digit or - first"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "path", "code"),
    [
        (lambda t: t.replace('id = "t"', 'id = "t\\n"'), "$.id", "bad_id"),
        (lambda t: t.replace('name = "q"', 'name = "q\\n"'), "$.items[0].name", "bad_name"),
        (lambda t: t.replace('value = "y"', 'value = "y\\n"'), "$.choices.yn[0].value",
         "bad_value"),
        (lambda t: t.replace('["en"]', '["en", "ko\\n"]'), "$.languages[1]", "bad_language"),
    ],
    ids=["form id", "item name", "choice value", "language"],
)  # fmt: skip
def test_names_ids_and_codes_refuse_a_final_newline(edit: object, path: str, code: str) -> None:
    got = refused(edit(HEAD + ITEM))  # type: ignore[operator]
    assert (path, code) in [(p, c) for p, c, *_ in got]


def test_an_xlsform_text_with_a_bidi_override_is_refused_at_its_cell(tmp_path: Path) -> None:
    survey = [["type", "name", "label::English (en)"], ["text", "q1", "One\u202eeno"]]
    settings = [["form_id", "version", "form_title::English (en)"], ["f", 1, "F"]]
    path = write_workbook(tmp_path / "f.xlsx", {"survey": survey, "settings": settings})
    with pytest.raises(FormInvalid) as e:
        import_xlsform(path)
    assert e.value.problems == [
        Problem(
            path="survey!C2 (label::English (en))",
            code="control_character",
            message=message("\u202e", 4),
            item="q1",
            sheet="survey",
            row=2,
        )
    ]
    assert str(e.value.problems[0]).startswith("survey!C2 (label::English (en)) (item 'q1'): ")


def test_an_xlsform_line_break_stored_as_crlf_is_a_newline(tmp_path: Path) -> None:
    survey = [["type", "name", "label::English (en)"], ["note", "n1", "Line one\r\nLine two"]]
    settings = [["form_id", "version", "form_title::English (en)"], ["f", 1, "F"]]
    path = write_workbook(tmp_path / "f.xlsx", {"survey": survey, "settings": settings})
    assert import_xlsform(path).form.items[0].label == {"en": "Line one\nLine two"}


def test_an_xlsform_choice_property_is_refused_at_its_cell(tmp_path: Path) -> None:
    survey = [["type", "name", "label::English (en)", "choice_filter"],
              ["select_one yn", "q1", "One", "kind = 'a'"]]  # fmt: skip
    choices = [["list_name", "name", "label::English (en)", "kind"], ["yn", "y", "Yes", "a\u2066"]]
    settings = [["form_id", "version", "form_title::English (en)"], ["f", 1, "F"]]
    path = write_workbook(
        tmp_path / "f.xlsx", {"survey": survey, "choices": choices, "settings": settings}
    )
    with pytest.raises(FormInvalid) as e:
        import_xlsform(path)
    assert [(p.path, p.code, p.sheet, p.row, p.item) for p in e.value.problems] == [
        ("choices!D2 (kind)", "control_character", "choices", 2, "yn")
    ]
