"""Form problems name the item and its line (TOML, YAML) or sheet and row (XLSForm).

``$.items[3].items[10].items[2].required`` cannot be found in a 1,200-line file by eye:
every problem of a form file also carries ``item`` (the question, group or choice list
it is in) and ``line``, or ``sheet`` and ``row``, and ``str()`` shows them beside the
path, which stays as it was for programs (survey-language.md §10). Expected lines are
found here by searching the text, not by the scanner under test.
"""

from __future__ import annotations

import copy
import json
import re
import time
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xlsform_writer import Rows, write_workbook

from schemas.errors import FormInvalid, Problem
from schemas.survey import import_xlsform, load_form, parse_form

SHIPPED = resources.files("schemas.forms").joinpath("escapee-interview.toml").read_text()


def problems(data: str | bytes, fmt: str = "toml") -> list[Problem]:
    with pytest.raises(FormInvalid) as e:
        load_form(data.encode() if isinstance(data, str) else data, fmt=fmt)
    return e.value.problems


def line_of(text: str, needle: str, after: int = 0) -> int:
    """1-based number of the first line after line ``after`` that contains ``needle``."""
    lines = text.splitlines()
    return next(i for i in range(after, len(lines)) if needle in lines[i]) + 1


# ---------------------------------------------------------------------- the shipped form

BROKEN_SHIPPED = SHIPPED.replace('name = "bribe_purposes"', 'name = "bribe_motives"')
MESSAGE = "refers to 'bribe_purposes', which does not exist"
PATH = "$.items[3].items[10].items[2].required"


def test_a_renamed_question_names_the_referring_item_and_line() -> None:
    assert BROKEN_SHIPPED != SHIPPED
    [p] = problems(BROKEN_SHIPPED)
    want = line_of(SHIPPED, "required =", line_of(SHIPPED, 'name = "bribe_recipients"'))
    assert want == 811  # the line the issue was filed about
    assert (p.path, p.code, p.item, p.line) == (PATH, "unknown_reference", "bribe_recipients", 811)
    assert str(p) == f"{PATH} (item 'bribe_recipients', line 811): {MESSAGE}"


def test_the_same_in_yaml_names_the_yaml_line() -> None:
    text = yaml.safe_dump(tomllib.loads(BROKEN_SHIPPED), allow_unicode=True, sort_keys=False)
    [p] = problems(text, "yaml")
    want = line_of(text, "required:", line_of(text, "name: bribe_recipients"))
    assert (p.path, p.item, p.line) == (PATH, "bribe_recipients", want)
    assert str(p) == f"{PATH} (item 'bribe_recipients', line {want}): {MESSAGE}"


def test_a_problem_in_a_choice_list_names_the_list_and_line() -> None:
    text = SHIPPED.replace('value = "north_hamgyong"', 'value = "north hamgyong"')
    [p] = problems(text)
    assert (p.code, p.item, p.line) == ("bad_value", "province", line_of(text, "north hamgyong"))
    assert str(p).startswith(f"{p.path} (list 'province', line {p.line}): ")


def test_every_item_name_in_the_shipped_form_is_found_on_its_line() -> None:
    """Each question renamed to a bad name in turn: the problem's line holds that name."""
    raw = tomllib.loads(SHIPPED)
    names = []

    def walk(items: list[dict[str, Any]]) -> None:
        for it in items:
            names.append(it["name"])
            walk(it.get("items", []))

    walk(raw["items"])
    assert len(names) > 100
    lines = SHIPPED.splitlines()
    for name in names[::7]:
        text = SHIPPED.replace(f'name = "{name}"\n', f'name = "{name}!"\n', 1)
        got = [p for p in problems(text) if p.code == "bad_name"]
        assert [(p.item, lines[p.line - 1]) for p in got if p.line] == [
            (f"{name}!", f'name = "{name}"')
        ]


# ---------------------------------------------------------------------- every problem


def test_every_problem_of_a_broken_form_has_its_item_and_line(kit: Any) -> None:
    got = {(p.path, p.code): (p.item, p.line) for p in problems(kit.BROKEN_TOML)}
    assert got == {
        ("$.colour", "unknown_field"): (None, 6),
        ("$.items[1].wat", "unknown_field"): ("b", 24),
        ("$.items[2].type", "type"): ("a", 27),
        ("$.id", "bad_id"): (None, 1),
        ("$.version", "bad_version"): (None, 2),
        ("$.default_language", "bad_language"): (None, 5),
        ("$.title", "missing_translation"): (None, 3),
        ("$.choices.yn[1].value", "duplicate_choice"): ("yn", 11),
        ("$.items[2].name", "duplicate_name"): ("a", 26),
        ("$.items[0].choices", "unknown_choices"): ("a", 16),
        ("$.items[1].relevant", "unknown_reference"): ("b", 23),
        ("$.items[3].constraints[0].pattern", "bad_pattern"): ("d", 34),
        ("$.items[3].constraints[1]", "constraint_type"): ("d", 34),
        ("$.items[3].relevant", "expr_syntax"): ("d", 33),
        ("$.items[5].relevant", "expr_function"): ("e", 48),
        ("$.items[5].relevant", "ambiguous_reference"): ("e", 48),
        # a missing key: the line of the item it belongs in
        ("$.items[4].items[0].sensitive", "identity_not_sensitive"): ("inner", 39),
        ("$.items[4].items[0].identity", "identity_in_repeat"): ("inner", 43),
        ("$.items[0].relevant", "cycle"): ("a", 18),
    }


def test_a_path_in_a_message_gets_its_line_too(kit: Any) -> None:
    by = {(p.path, p.code): p for p in problems(kit.BROKEN_TOML)}
    p = by[("$.items[2].name", "duplicate_name")]
    assert str(p) == (
        "$.items[2].name (item 'a', line 26): name 'a' is already used at $.items[0] (line 13)"
    )


HEAD = 'id = "t"\nversion = 1\ntitle = {en = "T"}\nlanguages = ["en"]\ndefault_language = "en"\n'

TRICKY = (
    HEAD
    + '# a comment with [[items]] and name = "x" in it\r\n'
    + "[choices]\n"
    + 'yn = [\n  { value = "y", label = { en = "Yes" } },\n'
    + '  { value = "y", label = { en = "Yes again" } },  # [x]\n]\n'
    + "[[items]]\n"
    + 'name = "intro"\ntype = "note"\n'
    + 'label.en = """A note\nwith [[items]] and\n"quotes" inside"""\n'
    + "[[items]]\n"
    + "name = 'g1'\n"
    + 'type = "group"\n'
    + "label = { en = 'G' }\n"
    + "[[items.items]]\n"
    + 'name = "q1"\ntype = "integer"\nlabel = { en = "Q1" }\n'
    + "constraints = [\n"
    + '  { min = 1.5e1, message = { en = "ok" } },\n'
    + '  { "max" = 1979-05-27, message = { en = "a date on an integer" } },\n'
    + "]\n"
    + "[[items.items]]\n"
    + 'name = "q2"\ntype = "integer"\nlabel = { en = "Q2" }\n'
    + 'relevant = "${q1} > 1 and ${ghost} = 1"\n'
    + "[[items]]\n"
    + 'name = "g2"\ntype = "group"\nlabel = { en = "G2" }\n'
    + "[[items.items]]\n"
    + 'name = "q3"\n"type" = "text"\nlabel = { en = "Q3", fr = "Q3" }\n'
)


def test_tables_inline_arrays_strings_and_comments_are_followed() -> None:
    got = {(p.path, p.code): (p.item, p.line) for p in problems(TRICKY)}
    text = TRICKY
    assert got == {
        ("$.choices.yn[1].value", "duplicate_choice"): ("yn", line_of(text, "Yes again")),
        ("$.items[1].items[0].constraints[0].min", "bad_bound"): ("q1", line_of(text, "1.5e1")),
        ("$.items[1].items[0].constraints[1].max", "type"): ("q1", line_of(text, "1979-05-27")),
        ("$.items[1].items[1].relevant", "unknown_reference"): ("q2", line_of(text, "ghost")),
        ("$.items[2].items[0].label", "unknown_language"): ("q3", line_of(text, 'fr = "Q3"')),
    }


# ---------------------------------------------------------------------- syntax errors


def test_syntax_errors_carry_their_line() -> None:
    [p] = problems(HEAD + "[[items]]\nname = \n")
    assert (p.code, p.line) == ("syntax", 7)
    [p] = problems("id: t\nversion: [1\ntitle: x\n", "yaml")
    assert (p.code, p.line) == ("syntax", p.line) and p.line in (2, 3)
    assert str(p).startswith(f"$ (line {p.line}): YAML syntax error at line {p.line}")


def test_decoded_documents_name_the_item_without_a_line() -> None:
    doc = tomllib.loads(BROKEN_SHIPPED)
    with pytest.raises(FormInvalid) as e:
        parse_form(doc)
    [p] = e.value.problems
    assert (p.path, p.item, p.line) == (PATH, "bribe_recipients", None)
    assert str(p) == f"{PATH} (item 'bribe_recipients'): {MESSAGE}"


def test_an_entry_that_is_not_a_table_keeps_the_paths_after_it() -> None:
    doc = tomllib.loads(HEAD)
    doc["items"] = [
        7,
        {"name": "q", "type": "integer", "label": {"en": "Q"}, "relevant": "${z} = 1"},
    ]
    with pytest.raises(FormInvalid) as e:
        parse_form(doc)
    assert [(p.path, p.code, p.item) for p in e.value.problems] == [
        ("$.items[0]", "type", None),
        ("$.items[1].relevant", "unknown_reference", "q"),  # was items[0]: the 7's place
    ]


# ---------------------------------------------------------------------- printing


def test_what_a_form_writes_is_escaped_when_printed() -> None:
    text = HEAD + '[[items]]\nname = "q\\u001b[2J"\ntype = "text"\nlabel = {en = "Q"}\n'
    [p] = problems(text)
    assert p.item == "q\x1b[2J"  # the data is kept as written
    assert str(p) == (
        "$.items[0].name (item 'q\\x1b[2J', line 7): "
        "names are 1-64 of A-Z a-z 0-9 _, not a digit first"
    )
    text = HEAD + '[[items]]\nname = "q"\ntype = "text"\nlabel = {en = "Q"}\n"\\u202e" = 1\n'
    [p] = problems(text)
    assert str(p) == "$.items[0].\\u202e (item 'q', line 10): unknown field '\\u202e'"


def test_locations_are_optional_fields_that_old_problems_decode_without() -> None:
    old = msgspec.msgpack.encode({"path": "$.a", "code": "required", "message": "m"})
    p = msgspec.msgpack.decode(old, type=Problem)
    assert (p.item, p.line, p.sheet, p.row) == (None, None, None, None)
    assert str(p) == "$.a: m"
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(p)) == {
        "path": "$.a",
        "code": "required",
        "message": "m",
    }


# ---------------------------------------------------------------------- hostile input


def test_locating_stays_linear_for_many_problems() -> None:
    """5,000 items, each with an unknown field: located in well under a second each way."""
    items = "".join(
        f'[[items]]\nname = "q{i}"\ntype = "text"\nlabel = {{en = "Q"}}\nx{i} = 1\n'
        for i in range(4999)
    )
    text = HEAD + items
    t0 = time.monotonic()
    got = problems(text)
    assert time.monotonic() - t0 < 10
    assert len(got) == 4999
    last = ("$.items[4998].x4998", "q4998", 6 + 4998 * 5 + 4)
    assert (got[-1].path, got[-1].item, got[-1].line) == last
    ytext = yaml.safe_dump(tomllib.loads(text), sort_keys=False)
    t0 = time.monotonic()
    got = problems(ytext, "yaml")
    assert time.monotonic() - t0 < 20
    assert got[-1].line == line_of(ytext, "x4998:")


# ---------------------------------------------------------------------- XLSForm

SURVEY: Rows = [
    [
        "type",
        "name",
        "label::English (en)",
        "relevant",
        "constraint",
        "constraint_message::English (en)",
        "colour",
    ],
    ["text", "q1", "One"],
    ["integer", "q2", "Two", "${nope} = 1"],
    ["integer", "q3", "Three", "", ". >", "Bad"],
    ["text", "q1", "Again"],
    ["txt", "q5", "Typo"],
    ["text", "q6", "Six", "", "", "", "red"],
    ["text", "", "No name"],
]
CHOICES: Rows = [
    ["list_name", "name", "label::English (en)"],
    ["colours", "red", "Red"],
    ["colours", "red", "Red again"],
    ["bad list", "x", "X"],
]
SETTINGS: Rows = [["form_id", "version", "form_title::English (en)"], ["Test Form", 1, "T"]]


def test_every_xlsform_problem_has_its_sheet_row_and_item(tmp_path: Path) -> None:
    path = write_workbook(
        tmp_path / "form.xlsx", {"survey": SURVEY, "choices": CHOICES, "settings": SETTINGS}
    )
    with pytest.raises(FormInvalid) as e:
        import_xlsform(path)
    got = [(p.path, p.code, p.sheet, p.row, p.item) for p in e.value.problems]
    assert got == [
        ("settings!A2 (form_id)", "bad_id", "settings", 2, None),
        ("survey!D3 (relevant)", "unknown_reference", "survey", 3, "q2"),
        ("survey!E4 (constraint)", "expr_syntax", "survey", 4, "q3"),
        ("survey!B5 (name)", "duplicate_name", "survey", 5, "q1"),
        ("survey!A6 (type)", "unknown_type", "survey", 6, "q5"),
        ("survey!B8 (name)", "missing_name", "survey", 8, None),
        ("choices!B3 (name)", "duplicate_choice", "choices", 3, "colours"),
        ("choices!A4 (list_name)", "bad_name", "choices", 4, "bad list"),
    ]
    by = {p.path: p for p in e.value.problems}
    assert str(by["survey!D3 (relevant)"]) == (
        "survey!D3 (relevant) (item 'q2'): refers to 'nope', which does not exist"
    )
    assert str(by["choices!B3 (name)"]).startswith("choices!B3 (name) (list 'colours'): ")


def test_xlsform_warnings_have_their_sheet_and_row_too(tmp_path: Path) -> None:
    survey = [["type", "name", "label", "appearance"], ["text", "q1", "One", "big"]]
    settings = [["form_id", "version", "form_title", "default_language"], ["f", 1, "F", "en"]]
    path = write_workbook(tmp_path / "form.xlsx", {"survey": survey, "settings": settings})
    [w] = import_xlsform(path).warnings
    assert (w.path, w.code, w.sheet, w.row, w.item) == (
        "survey!D2 (appearance)",
        "ignored_column",
        "survey",
        2,
        "q1",
    )


# ---------------------------------------------------------------------- any TOML layout

_SCALAR_STYLES = st.sampled_from(["basic", "literal", "multi", "multi_literal"])


@st.composite
def _toml_string(draw: st.DrawFn, s: str) -> str:
    style = draw(_SCALAR_STYLES)
    if style == "literal" and "'" not in s and "\n" not in s:
        return f"'{s}'"
    if style == "multi" and not s.endswith('"'):
        return '"""' + draw(st.sampled_from(["", "\n"])) + s.replace("\\", "\\\\") + '"""'
    if style == "multi_literal" and "'''" not in s and not s.endswith("'"):
        return "'''" + s + "'''"
    return json.dumps(s, ensure_ascii=False)


@st.composite
def _toml_value(draw: st.DrawFn, v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return draw(_toml_string(v))
    if isinstance(v, list):
        sep = draw(st.sampled_from([", ", ",\n  ", " ,  # a comment [x]\n  "]))
        inner = sep.join(draw(_toml_value(x)) for x in v)
        start, end = draw(st.sampled_from(["", "\n  "])), draw(st.sampled_from(["", ","]))
        return "[" + start + inner + end + "\n]"
    assert isinstance(v, dict)
    pairs = ", ".join(f"{draw(_toml_key(k))} = {draw(_toml_value(x))}" for k, x in v.items())
    return "{ " + pairs + " }" if pairs else "{}"


@st.composite
def _toml_key(draw: st.DrawFn, k: str) -> str:
    return draw(st.sampled_from([k, f'"{k}"', f"'{k}'"]))


@st.composite
def _toml_doc(draw: st.DrawFn, raw: dict[str, Any]) -> str:
    out: list[str] = []

    def pairs(table: dict[str, Any], top: bool = False) -> None:
        for k, v in table.items():
            if k == "items" or (top and k == "choices"):
                continue
            eq = draw(st.sampled_from([" = ", "=", "   =  "]))
            note = draw(st.sampled_from(["", "  # [[items]] name = 'x'"]))
            if isinstance(v, dict) and v and draw(st.booleans()):
                for sk, sv in v.items():  # dotted keys: label.en = "…"
                    out.append(f"{draw(_toml_key(k))}.{draw(_toml_key(sk))}{eq}"
                               f"{draw(_toml_value(sv))}{note}")  # fmt: skip
            else:
                out.append(f"{draw(_toml_key(k))}{eq}{draw(_toml_value(v))}{note}")
            if draw(st.booleans()):
                out.append(draw(st.sampled_from(["", "# a comment", "   "])))

    def items(prefix: str, entries: list[dict[str, Any]]) -> None:
        for it in entries:
            spaced = f"[[ {prefix.replace('.', ' . ')} ]]"
            out.append(draw(st.sampled_from([f"[[{prefix}]]", spaced])))
            pairs(it)
            items(f"{prefix}.items", it.get("items", []))

    pairs(raw, top=True)
    for name, choices in raw.get("choices", {}).items():
        for c in choices:
            out.append(f"[[choices.{name}]]")
            pairs(c)
    items("items", raw["items"])
    return "\n".join(out) + "\n"


SMALL = tomllib.loads(SHIPPED)
SMALL["items"] = SMALL["items"][:4]  # the consent questions and the first group
SMALL["items"][3]["items"] = SMALL["items"][3]["items"][:2]
SMALL["choices"] = {k: SMALL["choices"][k] for k in ("consent_choice", "sex", "province")}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_line_is_right_whatever_the_toml_layout(data: st.DataObject) -> None:
    raw = copy.deepcopy(SMALL)
    targets: list[dict[str, Any]] = []

    def walk(entries: list[dict[str, Any]]) -> None:
        for it in entries:
            targets.append(it)
            walk(it.get("items", []))

    walk(raw["items"])
    target = data.draw(st.sampled_from(targets))
    target["name"] = "bad name!"
    target["wrong_key"] = 1
    text = data.draw(_toml_doc(raw))
    assert tomllib.loads(text) == raw  # the layout is valid TOML for the same document
    got = {p.code: p for p in problems(text) if p.code in ("bad_name", "unknown_field")}
    lines = text.splitlines()
    assert got["bad_name"].item == got["unknown_field"].item == "bad name!"
    for code, key in (("bad_name", "name"), ("unknown_field", "wrong_key")):
        line = lines[got[code].line - 1]  # type: ignore[operator]
        assert re.match(rf"""["']?{key}["']?\s*=""", line), (code, line)
