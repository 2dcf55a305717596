"""XLSForm import (docs/spec/survey-language.md §9).

Every workbook here is generated into ``tmp_path`` with openpyxl; all data is synthetic.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xlsform_writer import Rows, form_to_sheets, write_workbook, write_xlsform

from schemas.errors import FormInvalid, Problem
from schemas.survey import Choice, Constraint, Form, Item, load_form
from schemas.survey import xlsform as xlsform_module
from schemas.survey.xlsform import ImportResult, import_xlsform
from schemas.survey.xlsform import _workbook as xlsform_workbook

ROUND_TRIP_TOML = """
id = "roundtrip-form"
version = 2024010101
languages = ["ko", "en"]
default_language = "ko"
title = { ko = "왕복 설문", en = "Round-trip survey" }

[[items]]
name = "intro"
type = "note"
label = { ko = "안내", en = "Introduction" }

[[items]]
name = "respondent"
type = "group"
label = { ko = "응답자", en = "Respondent" }
hint = { ko = "모두 합성 자료", en = "All synthetic" }
relevant = "true()"

[[items.items]]
name = "full_name"
type = "text"
label = { ko = "이름", en = "Name" }
hint = { ko = "가명", en = "A made-up name" }
required = true
sensitive = true
identity = "name"
[[items.items.constraints]]
expr = "string-length(.) <= 80 and not(regex(., '[0-9]+'))"
message = { ko = "80자 이하", en = "At most 80 characters, no digits only" }

[[items.items]]
name = "birth_year"
type = "year"
label = { ko = "출생 연도", en = "Year of birth" }
required = true
sensitive = true
identity = "birth_year"
[[items.items.constraints]]
expr = ". >= 1900 and . <= 2010"
message = { ko = "1900-2010 사이", en = "Between 1900 and 2010" }

[[items.items]]
name = "sex"
type = "select_one"
choices = "sex"
label = { ko = "성별", en = "Sex" }
sensitive = true
identity = "sex"

[[items.items]]
name = "province"
type = "select_one"
choices = "provinces"
label = { ko = "출신 도", en = "Province of origin" }
sensitive = true
identity = "province_of_origin"

[[items.items]]
name = "departure_year"
type = "integer"
label = { ko = "출발 연도", en = "Year of departure" }
sensitive = true
identity = "departure_year"
[[items.items.constraints]]
expr = ". >= ${birth_year}"
message = { ko = "출생 이후", en = "Not before the year of birth" }

[[items]]
name = "city"
type = "select_one"
choices = "cities"
choice_filter = "province = ${province}"
label = { ko = "도시", en = "City" }

[[items]]
name = "has_children"
type = "boolean"
label = { ko = "자녀 여부", en = "Any children?" }
required = true

[[items]]
name = "children_count"
type = "integer"
label = { ko = "자녀 수", en = "How many children" }
relevant = "${has_children}"
required = "${has_children} and ${height} > 1"

[[items]]
name = "height"
type = "decimal"
label = { ko = "키", en = "Height in metres" }
sensitive = true

[[items]]
name = "arrival_date"
type = "date"
label = { ko = "도착일", en = "Date of arrival" }

[[items]]
name = "spoken"
type = "select_multiple"
choices = "langs"
label = { ko = "사용 언어", en = "Languages spoken" }
[[items.constraints]]
expr = "count-selected(.) >= 1 and not(selected(., 'none') and count-selected(.) > 1)"
message = { ko = "하나 이상", en = "At least one; 'none' alone" }

[[items]]
name = "detention"
type = "repeat"
label = { ko = "구금", en = "Detention" }
min_count = 0
max_count = 5

[[items.items]]
name = "place"
type = "text"
label = { ko = "장소", en = "Place" }
required = true

[[items.items]]
name = "transfers"
type = "repeat"
label = { ko = "이송", en = "Transfers" }
relevant = "${place} != ''"
min_count = 1
max_count = 3

[[items.items.items]]
name = "facility"
type = "text"
label = { ko = "시설", en = "Facility" }

[[items.items.items]]
name = "conditions"
type = "select_multiple"
choices = "conditions"
label = { ko = "조건", en = "Conditions" }

[[items]]
name = "closing"
type = "note"
label = { ko = "끝", en = "Thank you" }

[choices]
sex = [
  { value = "f", label = { ko = "여", en = "Female" } },
  { value = "m", label = { ko = "남", en = "Male" } },
]
provinces = [
  { value = "p1", label = { ko = "도1", en = "Province 1" }, properties = { region = "north" } },
  { value = "p2", label = { ko = "도2", en = "Province 2" }, properties = { region = "south" } },
]
langs = [
  { value = "ko", label = { ko = "한국어", en = "Korean" } },
  { value = "ru", label = { ko = "러시아어", en = "Russian" } },
  { value = "none", label = { ko = "없음", en = "None" } },
]
conditions = [
  { value = "1", label = { ko = "조건 1", en = "Condition 1" } },
  { value = "2", label = { ko = "조건 2", en = "Condition 2" } },
]

[[choices.cities]]
value = "c1"
label = { ko = "시1", en = "City 1" }
properties = { province = "p1" }

[[choices.cities]]
value = "c2"
label = { ko = "시2", en = "City 2" }
properties = { province = "p2" }

[[choices.cities]]
value = "c3"
label = { ko = "시3", en = "City 3" }
properties = { province = "p2", size = "small" }
"""

SETTINGS: Rows = [
    ["form_id", "version", "form_title::English (en)", "default_language"],
    ["test-form", 1, "Test form", "en"],
]


def problems_of(exc: pytest.ExceptionInfo[FormInvalid]) -> list[tuple[str, str]]:
    return [(p.path, p.code) for p in exc.value.problems]


def workbook(tmp_path: Path, **sheets: Rows) -> Path:
    return write_workbook(tmp_path / "form.xlsx", sheets)


def survey_only(tmp_path: Path, survey: Rows, choices: Rows | None = None) -> Path:
    sheets = {"survey": survey, "settings": SETTINGS}
    if choices is not None:
        sheets["choices"] = choices
    return write_workbook(tmp_path / "form.xlsx", sheets)


# ---------------------------------------------------------------------------- round trip


def test_round_trip_every_construct(tmp_path: Path) -> None:
    form = load_form(ROUND_TRIP_TOML.encode())
    kinds = {it.type for it, _ in form.walk()}
    assert kinds == {
        "text",
        "integer",
        "decimal",
        "boolean",
        "date",
        "year",
        "select_one",
        "select_multiple",
        "note",
        "group",
        "repeat",
    }
    path = write_xlsform(form, tmp_path / "roundtrip.xlsx")

    result = import_xlsform(path)

    assert result.warnings == ()
    assert result.form == form


def test_round_trip_from_every_kind_of_source(tmp_path: Path) -> None:
    form = load_form(ROUND_TRIP_TOML.encode())
    path = write_xlsform(form, tmp_path / "roundtrip.xlsx")
    data = path.read_bytes()
    with path.open("rb") as f:
        from_file = import_xlsform(f).form
    assert from_file == form
    assert import_xlsform(str(path)).form == form
    assert import_xlsform(data).form == form
    assert import_xlsform(io.BytesIO(data)).form == form


def test_import_result_is_a_frozen_struct(tmp_path: Path) -> None:
    result = import_xlsform(write_xlsform(load_form(ROUND_TRIP_TOML.encode()), tmp_path / "f.xlsx"))
    assert isinstance(result, ImportResult)
    with pytest.raises(AttributeError):
        result.warnings = ()  # type: ignore[misc]
    assert set(xlsform_module.__all__) >= {"ImportResult", "import_xlsform"}


_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
_TEXTS = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "Zs", "P")), min_size=1
).filter(lambda s: s.strip() == s and bool(s) and not s.startswith("="))


@st.composite
def _forms(draw: st.DrawFn) -> Form:
    langs = draw(st.sampled_from([("en",), ("ko", "en"), ("en", "ko", "ja")]))

    def text() -> dict[str, str]:
        return {lang: draw(_TEXTS) for lang in langs}

    names = draw(st.lists(_NAMES, min_size=1, max_size=6, unique=True))
    items = []
    for name in names:
        kind = draw(st.sampled_from(["text", "integer", "decimal", "date", "year", "boolean"]))
        items.append(
            Item(
                name=name,
                type=kind,  # type: ignore[arg-type]
                label=text(),
                hint=draw(st.none() | st.builds(text)),
                required=draw(st.booleans()),
                sensitive=draw(st.booleans()),
                constraints=draw(
                    st.just(())
                    | st.builds(lambda m: (Constraint(expr=". != ''", message=m),), st.builds(text))
                ),
            )
        )
    values = draw(
        st.lists(
            st.from_regex(r"[A-Za-z0-9_.\-]{1,8}", fullmatch=True),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    choices = tuple(Choice(value=v, label=text()) for v in values)
    items.append(Item(name="pick_zz", type="select_one", label=text(), choices="opts"))
    return Form(
        id=draw(st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)),
        version=draw(st.integers(min_value=1, max_value=2**31 - 1)),
        title=text(),
        languages=langs,
        default_language=draw(st.sampled_from(langs)),
        items=tuple(items),
        choices={"opts": choices},
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(form=_forms())
def test_round_trip_property(tmp_path: Path, form: Form) -> None:
    path = write_xlsform(form, tmp_path / "prop.xlsx")
    assert import_xlsform(path).form == form


# ---------------------------------------------------------------------------- refused constructs


def test_unsupported_constructs_are_each_named_by_cell(tmp_path: Path) -> None:
    path = survey_only(
        tmp_path,
        [
            ["type", "name", "label::English (en)", "calculation", "relevant", "repeat_count"],
            ["text", "q1", "Question one"],
            ["calculate", "total", "", "${q1} + 1"],
            ["geopoint", "where", "Where are you?"],
            ["text", "q2", "Question two", "concat('a', 'b')"],
            ["end group"],
            ["begin repeat", "visits", "Visits", "", "", "${q1}"],
            ["integer", "n", "How many"],
            ["end repeat"],
            ["select_one yes_no or_other", "q3", "Yes or no"],
            ["begin group", "tail", "Tail"],
            ["txt", "q4", "Typo type", "", "${total} > 1"],
        ],
    )
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(path)
    assert problems_of(exc) == [
        ("survey!A3 (type)", "unsupported_type"),
        ("survey!A4 (type)", "unsupported_type"),
        ("survey!D5 (calculation)", "unsupported_column"),
        ("survey!A6 (type)", "unbalanced_group"),
        ("survey!F7 (repeat_count)", "unsupported_repeat_count"),
        ("survey!A10 (type)", "unsupported_type"),
        ("survey!A11 (type)", "unbalanced_group"),
        ("survey!A12 (type)", "unknown_type"),
    ]
    by_path = {p.path: p.message for p in exc.value.problems}
    assert "'calculate' is not supported" in by_path["survey!A3 (type)"]
    assert "never records where" in by_path["survey!A4 (type)"]
    assert "clear this cell" in by_path["survey!D5 (calculation)"]
    assert "no 'begin group' above it" in by_path["survey!A6 (type)"]
    assert "min_count and max_count" in by_path["survey!F7 (repeat_count)"]
    assert "'or_other' is not supported" in by_path["survey!A10 (type)"]
    assert "never closed" in by_path["survey!A11 (type)"]
    assert "unknown type 'txt'" in by_path["survey!A12 (type)"]
    # the calculate row stands in for 'total': ${total} above is not a second problem
    assert str(exc.value).startswith("form in form.xlsx has 8 problems:")


@pytest.mark.parametrize(
    ("header", "value", "code"),
    [
        ("default", "3", "unsupported_column"),
        ("read_only", "yes", "unsupported_column"),
        ("trigger", "${q1}", "unsupported_column"),
        ("bind::oc:itemgroup", "g", "unsupported_column"),
    ],
)
def test_columns_that_change_meaning_are_refused(
    tmp_path: Path, header: str, value: str, code: str
) -> None:
    path = survey_only(
        tmp_path,
        [["type", "name", "label", header], ["text", "q1", "One"], ["text", "q2", "Two", value]],
    )
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(path)
    assert problems_of(exc) == [(f"survey!D3 ({header})", code)]


def test_mismatched_end_names_the_begin_row(tmp_path: Path) -> None:
    path = survey_only(
        tmp_path,
        [
            ["type", "name", "label"],
            ["begin_repeat", "r", "Repeat"],
            ["text", "q", "Question"],
            ["end_group"],
        ],
    )
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(path)
    assert problems_of(exc) == [("survey!A4 (type)", "unbalanced_group")]
    assert "'begin repeat' on row 2: write 'end repeat'" in exc.value.problems[0].message


@pytest.mark.parametrize("type_", ["select_one", "select_multiple a b", "select one"])
def test_select_needs_exactly_one_list(tmp_path: Path, type_: str) -> None:
    path = survey_only(tmp_path, [["type", "name", "label"], [type_, "q", "Q"]])
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(path)
    assert problems_of(exc) == [("survey!A2 (type)", "bad_type")]


def test_form_wide_problems_name_the_sheet(tmp_path: Path) -> None:
    path = survey_only(tmp_path, [["type", "name", "label", "appearance"], ["", "", "", "x"]])
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(path)
    assert problems_of(exc) == [("survey", "empty_form"), ("survey!A2 (type)", "missing_type")]


def test_blank_type_or_name_is_a_problem(tmp_path: Path) -> None:
    path = survey_only(
        tmp_path,
        [["type", "name", "label"], ["", "q1", "One"], ["text", "", "Two"], ["text", "q3", "3"]],
    )
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(path)
    assert problems_of(exc) == [
        ("survey!A2 (type)", "missing_type"),
        ("survey!B3 (name)", "missing_name"),
    ]


# ---------------------------------------------------------------------------- semantic checks


def test_semantic_problems_are_mapped_to_cells(tmp_path: Path) -> None:
    survey: Rows = [
        [
            "type",
            "name",
            "label::English (en)",
            "label::Korean (ko)",
            "required",
            "relevant",
            "constraint",
            "constraint_message::English (en)",
            "constraint_message::Korean (ko)",
            "identity",
            "choice_filter",
        ],
        ["text", "q1", "One", "일"],
        ["integer", "q2", "Two", "이", "", "${nope} = 1"],
        ["integer", "q3", "Three", "삼", "", "", ". >", "Bad", "나쁨"],
        ["text", "q1", "Again", "다시"],
        ["select_one missing_list", "q5", "Five", "오"],
        ["text", "full_name", "Name", "이름", "", "", "", "", "", "name"],
        ["begin group", "empty", "Empty", "빈"],
        ["end group"],
        ["begin repeat", "loop", "Loop", "루프"],
        ["integer", "inner", "Inner", "안"],
        ["end repeat"],
        ["note", "info", "Info", "정보", "yes", "${inner} > 1"],
        ["text", "q14", "Fourteen", "십사", "", "", "", "", "", "", "x = 1"],
        ["select_one colours", "q15", "Fifteen", "십오", "maybe("],
    ]
    choices: Rows = [
        ["list_name", "name", "label::English (en)", "label::Korean (ko)"],
        ["colours", "red", "Red", "빨강"],
        ["colours", "red", "Red again", "빨강"],
        ["bad list", "x", "X", "엑스"],
    ]
    settings: Rows = [
        ["form_id", "version", "form_title::English (en)", "form_title::Korean (ko)"],
        ["test-form", 1, "Test form", "시험"],
    ]
    path = workbook(tmp_path, survey=survey, choices=choices, settings=settings)
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(path)
    assert problems_of(exc) == [
        ("survey!F3 (relevant)", "unknown_reference"),
        ("survey!G4 (constraint)", "expr_syntax"),
        ("survey!B5 (name)", "duplicate_name"),
        ("survey!A6 (type)", "unknown_choices"),
        ("survey!7:7 (sensitive)", "identity_not_sensitive"),
        ("survey!A8 (type)", "empty_group"),
        ("survey!E13 (required)", "not_answerable"),
        ("survey!F13 (relevant)", "ambiguous_reference"),
        ("survey!K14 (choice_filter)", "not_select"),
        ("survey!E15 (required)", "expr_syntax"),
        ("choices!B3 (name)", "duplicate_choice"),
        ("choices!A4 (list_name)", "bad_name"),
    ]
    messages = {p.path: p.message for p in exc.value.problems}
    assert messages["survey!B5 (name)"] == "name 'q1' is already used at survey!B2"
    assert "'nope'" in messages["survey!F3 (relevant)"]


def test_repeat_count_maps_to_min_and_max_and_back(tmp_path: Path) -> None:
    rows: Rows = [
        ["type", "name", "label", "repeat_count"],
        ["begin repeat", "r", "Repeat", 3],
        ["text", "q", "Question"],
        ["end repeat"],
    ]
    form = import_xlsform(survey_only(tmp_path, rows)).form
    assert (form.items[0].min_count, form.items[0].max_count) == (3, 3)

    rows[1][3] = 5000  # above the limit: check_form's problem lands on the repeat_count cell
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(survey_only(tmp_path, rows))
    assert [(p.path, p.code, p.message) for p in exc.value.problems] == [
        ("survey!D2 (repeat_count)", "bad_count", "min_count must be 0-1000"),
        ("survey!D2 (repeat_count)", "bad_count", "max_count must be 1-1000"),
    ]


def test_missing_translation_is_named_by_cell(tmp_path: Path) -> None:
    path = workbook(
        tmp_path,
        survey=[
            [
                "type",
                "name",
                "label::English (en)",
                "label::Korean (ko)",
                "constraint",
                "constraint_message::English (en)",
                "constraint_message::Korean (ko)",
                "hint::English (en)",
            ],
            ["integer", "age", "Age", "", ". > 0", "Positive", ""],
            ["text", "q2", "Two", "이", "", "", "", "A hint"],
        ],
        settings=[
            ["form_id", "version", "form_title::English (en)"],
            ["test-form", "7", "Title"],
        ],
    )
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(path)
    assert problems_of(exc) == [
        ("settings!2:2 (form_title::Korean (ko))", "missing_translation"),
        ("survey!D2 (label::Korean (ko))", "missing_translation"),
        ("survey!G2 (constraint_message::Korean (ko))", "missing_translation"),
        ("survey!3:3 (hint::Korean (ko))", "missing_translation"),
    ]
    assert exc.value.problems[1].message == (
        "label in Korean (ko) is empty: fill it in (every text is needed in each form language)"
    )


# ---------------------------------------------------------------------------- settings, languages


def test_settings_and_languages_conventions(tmp_path: Path) -> None:
    path = workbook(
        tmp_path,
        survey=[
            [
                "Type",
                "Name",
                "label",
                "label::English (en)",
                "hint",
                "hint::English (en)",
                "Required",
                "constraint message",
                "jr:constraintMsg::English (en)",
                "constraint",
            ],
            ["integer", "a", "가", "A", "힌트", "Hint", "TRUE", "양수", "Positive", ". > 0"],
            ["text", "b", "나", "B", "", "", "no"],
            ["text", "c", "다", "C", "", "", 1],
            ["text", "d", "라", "D", "", "", True],
            ["text", "e", "마", "E", "", "", "${a} > 2"],
            ["text", "f", "바", "F", "", "", False],
            ["text", "g", "사", "G", "", "", "Yes"],
            ["text", "h", "아", "H"],
        ],
        settings=[
            ["form_id", "version", "form_title", "form_title::English (en)", "default_language"],
            ["test-form", 2024010101, "제목", "Title", "Korean (ko)"],
        ],
    )
    form = import_xlsform(path).form
    assert (form.id, form.version, form.title) == (
        "test-form",
        2024010101,
        {"ko": "제목", "en": "Title"},
    )
    assert (form.languages, form.default_language) == (("ko", "en"), "ko")
    assert form.items[0].label == {"ko": "가", "en": "A"}
    assert form.items[0].hint == {"ko": "힌트", "en": "Hint"}
    assert form.items[1].hint is None
    assert [it.required for it in form.items] == [
        True,
        False,
        True,
        True,
        "${a} > 2",
        False,
        True,
        False,
    ]
    assert form.items[0].constraints == (
        Constraint(expr=". > 0", message={"ko": "양수", "en": "Positive"}),
    )


def test_plain_columns_need_a_default_language(tmp_path: Path) -> None:
    path = workbook(
        tmp_path,
        survey=[["type", "name", "label"], ["text", "a", "A"]],
        settings=[["form_id", "version", "form_title"], ["test-form", 1, "T"]],
    )
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(path)
    assert problems_of(exc) == [("survey!C1 (label)", "no_default_language")]


def test_default_language_by_name_or_code(tmp_path: Path) -> None:
    survey: Rows = [
        ["type", "name", "label::Korean (ko)", "label::English (en)"],
        ["text", "a", "가", "A"],
    ]
    for value in ("English", "en", "English (en)"):
        path = workbook(
            tmp_path,
            survey=survey,
            settings=[
                [
                    "form_id",
                    "version",
                    "form_title::Korean (ko)",
                    "form_title::English (en)",
                    "default_language",
                ],
                ["test-form", "3", "제목", "Title", value],
            ],
        )
        form = import_xlsform(path).form
        assert (form.languages, form.default_language, form.version) == (("ko", "en"), "en", 3)


@pytest.mark.parametrize(
    ("version", "code"),
    [
        ("v1", "bad_version"),
        ("20240101011", "bad_version"),
        (2**31, "bad_version"),
        (0, "bad_version"),
        ("1.5", "bad_version"),
        (None, "missing_version"),
    ],
)
def test_bad_version(tmp_path: Path, version: object, code: str) -> None:
    path = workbook(
        tmp_path,
        survey=[["type", "name", "label"], ["text", "a", "A"]],
        settings=[
            ["form_id", "version", "form_title", "default_language"],
            ["test-form", version, "T", "en"],
        ],
    )
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(path)
    assert problems_of(exc) == [("settings!B2 (version)", code)]


def test_bad_headers_and_settings(tmp_path: Path) -> None:
    path = workbook(
        tmp_path,
        survey=[
            [
                "type",
                "name",
                "label::English (en)",
                "label::Korean",
                "label::English (en-US)",
                "hint::French (fr)",
                "name",
                "sensitive",
                "identity",
            ],
            ["text", "a", "A", "", "", "", "", "maybe", "nickname"],
        ],
        settings=[
            ["version", "form_title::English (en)", "default_language"],
            ["1", "T", "Klingon"],
        ],
    )
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(path)
    assert problems_of(exc) == [
        ("settings!2:2 (form_id)", "missing_form_id"),
        ("settings!C2 (default_language)", "bad_language"),
        ("survey!D1 (label::Korean)", "bad_language"),
        ("survey!E1 (label::English (en-US))", "bad_language"),
        ("survey!F1 (hint::French (fr))", "unknown_language"),
        ("survey!G1 (name)", "duplicate_column"),
        ("survey!H2 (sensitive)", "bad_sensitive"),
        ("survey!I2 (identity)", "bad_identity"),
    ]


# ---------------------------------------------------------------------------- choices


def test_choices_properties_aliases_and_blank_rows(tmp_path: Path) -> None:
    path = survey_only(
        tmp_path,
        [
            ["type", "name", "label", "choice_filter"],
            ["select_one region", "region", "Region"],
            [],
            ["select_multiple town", "town", "Town", "region = ${region}"],
        ],
        [
            ["list name", "value", "label", "region", "image"],
            ["region", 1, "North"],
            ["region", 2.0, "South"],
            [],
            ["town", "t1", "Town 1", "1", "t1.png"],
            ["town", "t2", "Town 2", 2],
        ],
    )
    result = import_xlsform(path)
    assert result.form.choices == {
        "region": (
            Choice(value="1", label={"en": "North"}),
            Choice(value="2", label={"en": "South"}),
        ),
        "town": (
            Choice(value="t1", label={"en": "Town 1"}, properties={"region": "1"}),
            Choice(value="t2", label={"en": "Town 2"}, properties={"region": "2"}),
        ),
    }
    assert result.form.items[1].choice_filter == "region = ${region}"
    assert [(w.path, w.code) for w in result.warnings] == [("choices!E5 (image)", "ignored_column")]


def test_choices_sheet_missing_with_select_questions(tmp_path: Path) -> None:
    path = survey_only(tmp_path, [["type", "name", "label"], ["select_one yn", "q", "Q"]])
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(path)
    assert problems_of(exc) == [
        ("survey!A2 (type)", "unknown_choices"),
        ("choices", "missing_sheet"),
    ]


# ---------------------------------------------------------------------------- warnings


def test_presentation_columns_are_warnings(tmp_path: Path) -> None:
    path = workbook(
        tmp_path,
        survey=[
            [
                "type",
                "name",
                "label",
                "appearance",
                "media::image::English (en)",
                "required_message::English (en)",
                "guidance_hint",
                "translator notes",
                "",
            ],
            ["begin group", "g", "Group", "field-list"],
            ["text", "a", "A", "multiline", "a.png", "Please answer", "Ask gently", "check", "x"],
            ["end group"],
        ],
        settings=[
            ["form_id", "version", "form_title", "default_language", "instance_name"],
            ["test-form", 1, "T", "en", "concat('x', ${a})"],
        ],
        notes=[["anything"]],
    )
    result = import_xlsform(path)
    assert [(w.path, w.code) for w in result.warnings] == [
        ("settings!E2 (instance_name)", "ignored_setting"),
        ("survey!H1 (translator notes)", "unknown_column"),
        ("survey!I1 ()", "unknown_column"),
        ("survey!D2 (appearance)", "ignored_column"),
        ("survey!D3 (appearance)", "ignored_column"),
        ("survey!E3 (media::image::English (en))", "ignored_column"),
        ("survey!F3 (required_message::English (en))", "ignored_column"),
        ("survey!G3 (guidance_hint)", "ignored_column"),
        ("notes", "ignored_sheet"),
    ]
    assert result.form.item("a").label == {"en": "A"}


# ---------------------------------------------------------------------------- bad files


def test_missing_sheets_are_one_clear_error(tmp_path: Path) -> None:
    path = workbook(tmp_path, questions=[["type", "name", "label"], ["text", "a", "A"]])
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(path)
    assert [(p.path, p.code, p.message) for p in exc.value.problems] == [
        (
            "survey",
            "missing_sheet",
            "the workbook has no survey sheet (sheets found: 'questions'): an XLSForm needs "
            "sheets named survey, choices and settings",
        )
    ]

    path = workbook(tmp_path, survey=[["type", "name", "label"], ["text", "a", "A"]])
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(path)
    assert problems_of(exc) == [
        ("settings", "missing_sheet"),
        ("survey!C1 (label)", "no_default_language"),
    ]


def _valid_bytes(tmp_path: Path) -> bytes:
    return survey_only(tmp_path, [["type", "name", "label"], ["text", "a", "A"]]).read_bytes()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _damage(good: bytes, member: str) -> bytes:
    """Overwrite the middle of one member's compressed bytes."""
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        info = z.getinfo(member)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    mid = start + info.compress_size // 2
    return good[:mid] + b"\xff" * 8 + good[mid + 8 :]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda good: b"", id="empty"),
        pytest.param(lambda good: b"type,name,label\ntext,a,A\n", id="csv"),
        pytest.param(lambda good: good[: len(good) // 2], id="truncated"),
        pytest.param(lambda good: _damage(good, "xl/worksheets/sheet1.xml"), id="bad-crc"),
        pytest.param(lambda good: _damage(good, "xl/workbook.xml"), id="bad-workbook"),
        pytest.param(lambda good: _zip({"hello.txt": b"hi"}), id="zip-not-xlsx"),
        pytest.param(
            lambda good: _zip({"[Content_Types].xml": b"<not xml", "xl/workbook.xml": b"<"}),
            id="broken-xml",
        ),
    ],
)
def test_corrupt_input_is_one_clear_error(tmp_path: Path, make: object) -> None:
    data = make(_valid_bytes(tmp_path))  # type: ignore[operator]
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(data)
    assert problems_of(exc) == [("$", "not_xlsx")]
    assert "save the form from Excel or LibreOffice" in exc.value.problems[0].message
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_old_xls_is_named(tmp_path: Path) -> None:
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500)
    assert problems_of(exc) == [("$", "not_xlsx")]
    assert "old .xls" in exc.value.problems[0].message


def test_size_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(b"x" * (xlsform_module.MAX_XLSFORM_BYTES + 1))
    assert problems_of(exc) == [("$", "too_large")]

    big = tmp_path / "big.xlsx"
    with big.open("wb") as f:
        f.truncate(xlsform_module.MAX_XLSFORM_BYTES + 1)
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(big)
    assert problems_of(exc) == [("$", "too_large")]
    assert exc.value.source == "big.xlsx"

    bomb = _zip({"xl/worksheets/sheet1.xml": b"\x00" * (2 * 1024 * 1024)})
    monkeypatch.setattr(xlsform_workbook, "MAX_UNZIPPED_BYTES", 1024 * 1024)
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(bomb)
    assert problems_of(exc) == [("$", "too_large")]


def test_row_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsform_workbook, "MAX_XLSFORM_ROWS", 10)
    rows: Rows = [["type", "name", "label"]]
    rows += [["text", f"q{i}", "Q"] for i in range(20)]
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(survey_only(tmp_path, rows))
    assert problems_of(exc) == [("survey", "too_many_rows")]


def test_huge_expression_never_crashes(tmp_path: Path) -> None:
    chain = "1+" * 999 + "1"  # just under the expression length limit
    path = survey_only(tmp_path, [["type", "name", "label", "relevant"], ["text", "b", "B", chain]])
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(path)
    assert [(p.path, p.code) for p in exc.value.problems] == [
        ("survey!D2 (relevant)", "expr_syntax")
    ]
    assert "too complex" in exc.value.problems[0].message


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(FormInvalid) as exc:
        import_xlsform(tmp_path / "absent.xlsx")
    assert problems_of(exc) == [("$", "unreadable")]
    assert exc.value.source == "absent.xlsx"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_never_leak_low_level_errors(data: bytes) -> None:
    with pytest.raises(FormInvalid):
        import_xlsform(data)


_CELL = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.sampled_from(
        [
            "text",
            "integer",
            "begin group",
            "end group",
            "begin repeat",
            "end repeat",
            "select_one l",
            "note",
            "calculate",
            "yes",
            "${a}",
            ". > 1",
            "a",
            "b",
            "l",
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=8),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.lists(_CELL, min_size=3, max_size=6), max_size=8))
def test_arbitrary_cells_give_a_form_or_form_invalid(tmp_path: Path, rows: Rows) -> None:
    header: list[object] = ["type", "name", "label", "required", "relevant", "constraint"]
    clean = [[c for c in row] for row in rows]
    path = write_workbook(
        tmp_path / "fuzz.xlsx",
        {
            "survey": [header, *clean],
            "choices": [["list_name", "name", "label"], ["l", "x", "X"]],
            "settings": SETTINGS,
        },
    )
    try:
        result = import_xlsform(path)
    except FormInvalid as e:
        assert e.problems and all(isinstance(p, Problem) for p in e.problems)
    else:
        assert isinstance(result.form, Form)
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(result.form), type=Form) == result.form


def test_writer_refuses_non_expr_constraints() -> None:
    form = Form(
        id="x",
        version=1,
        title={"en": "X"},
        languages=("en",),
        default_language="en",
        items=(
            Item(
                name="a",
                type="integer",
                label={"en": "A"},
                constraints=(Constraint(min=1, message={"en": "m"}),),
            ),
        ),
    )
    with pytest.raises(ValueError):
        form_to_sheets(form)
