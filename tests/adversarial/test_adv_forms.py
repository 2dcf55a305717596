"""Malformed, oversized and deeply nested forms (docs/spec/survey-language.md §2, §6, §9,
§10): mutated TOML and YAML of the shipped form, mutated decoded documents, mutated
XLSForm workbooks. Property: a :class:`~schemas.survey.Form` or one ``FormInvalid``
whose every problem has a path, a code and a message; never another exception; limits
answered with a clear problem in bounded time and memory.
"""

from __future__ import annotations

import copy
import io
import sys
import time
import tomllib
import tracemalloc
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas.survey._structure as structure
from schemas.errors import FormInvalid
from schemas.survey import Form, import_xlsform, load_form, parse_form
from schemas.survey._check import MAX_ITEMS

#: Examples per property in ``make test``; bench/fuzz.py runs many more.
EXAMPLES = 120

SHIPPED = resources.files("schemas.forms").joinpath("escapee-interview.toml").read_text()
RAW = tomllib.loads(SHIPPED)
LINES = SHIPPED.splitlines()
YAML_TEXT = yaml.safe_dump(RAW, allow_unicode=True, sort_keys=False)
YAML_LINES = YAML_TEXT.splitlines()

_TOKENS = st.sampled_from(
    ['"', "'", "[", "]", "{", "}", "=", ":", "-", "&a", "*a", "!!int", "\t", "#", ",", "\\",
     "${", "${consent}", "()", "not(", "1e999", "2021-02-30", "true", "null", "~", "items",
     "[[items]]", "[[items.items]]", 'type = "repeat"', "relevant = \"${x}\"", "\x00", "é"]
)  # fmt: skip


def assert_form_or_invalid(fn: Any, *args: Any, **kw: Any) -> Form | None:
    try:
        result = fn(*args, **kw)
    except FormInvalid as e:
        assert e.problems
        for p in e.problems:
            assert p.path and p.code and p.message, p
        return None
    return result.form if hasattr(result, "form") else result  # type: ignore[no-any-return]


@st.composite
def mutated_lines(draw: st.DrawFn, lines: list[str]) -> str:
    out = list(lines)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(out) - 1))
        op = draw(st.sampled_from(["delete", "dup", "swap", "value", "insert", "cut", "indent"]))
        if op == "delete":
            del out[i : i + draw(st.integers(1, 20))]
        elif op == "dup":
            out.insert(i, out[i])
        elif op == "swap":
            j = draw(st.integers(0, len(out) - 1))
            out[i], out[j] = out[j], out[i]
        elif op == "value":
            head, sep, _ = out[i].partition("=" if "=" in out[i] else ":")
            out[i] = head + (sep or "=") + " " + "".join(draw(st.lists(_TOKENS, max_size=4)))
        elif op == "insert":
            out.insert(i, "".join(draw(st.lists(_TOKENS, min_size=1, max_size=5))))
        elif op == "cut":
            out[i] = out[i][: draw(st.integers(0, len(out[i])))]
        else:
            out[i] = "  " + out[i]
        if not out:
            out = [""]
    return "\n".join(out)


_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_SETTINGS
@given(text=mutated_lines(LINES))
def test_mutated_toml_gives_a_form_or_form_invalid(text: str) -> None:
    assert_form_or_invalid(load_form, text.encode(), fmt="toml")


@settings(_SETTINGS, max_examples=max(10, EXAMPLES // 4))  # PyYAML is slow: fewer here
@given(text=mutated_lines(YAML_LINES))
def test_mutated_yaml_gives_a_form_or_form_invalid(text: str) -> None:
    assert_form_or_invalid(load_form, text.encode(), fmt="yaml")


_JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from(["text", "repeat", "group", "select_one", "${consent}", "yes", "ko"]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=8,
)  # fmt: skip


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*here, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*here, i))
    return out


PATHS = _paths(RAW)[1:]


@_SETTINGS
@given(edits=st.lists(st.tuples(st.sampled_from(PATHS), _JUNK), min_size=1, max_size=3))
def test_mutated_documents_give_a_form_or_form_invalid(edits: list[Any]) -> None:
    doc = copy.deepcopy(RAW)
    for path, value in edits:
        node = doc
        try:
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed the path
    assert_form_or_invalid(parse_form, doc)


# ------------------------------------------------------------------------------ XLSForm


def _workbook() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "survey"
    rows = [
        ["type", "name", "label::English (en)", "relevant", "constraint"],
        ["select_one yn", "consent", "Consent?", "", ""],
        ["begin group", "g", "Group", "${consent} = 'yes'", ""],
        ["integer", "n", "How many?", "", ". >= 0"],
        ["begin repeat", "r", "Each", "", ""],
        ["text", "t", "Text", "", ""],
        ["end repeat", "", "", "", ""],
        ["end group", "", "", "", ""],
    ]
    for row in rows:
        ws.append(row)
    ch = wb.create_sheet("choices")
    for row in [
        ["list_name", "name", "label::English (en)"],
        ["yn", "yes", "Y"],
        ["yn", "no", "N"],
    ]:
        ch.append(row)
    st_ = wb.create_sheet("settings")
    for row in [["form_id", "version", "form_title::English (en)"], ["adv", 1, "Adv"]]:
        st_.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


XLSX = _workbook()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in members.items():
            z.writestr(n, b)
    return buf.getvalue()


MEMBERS = _members(XLSX)
_XML_JUNK = st.sampled_from(
    [
        b"",
        b"<",
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;"
        b"&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'><!ENTITY d '&c;&c;&c;"
        b"&c;&c;&c;&c;&c;&c;&c;'><!ENTITY e '&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;'>]><x>&e;&e;&e;</x>",
        b"<worksheet>" + b"<x>" * 50_000 + b"</x>" * 50_000 + b"</worksheet>",
        b"<?xml version='1.0'?><!DOCTYPE x SYSTEM 'file:///etc/passwd'><x/>",
    ]
)


@settings(
    max_examples=max(20, EXAMPLES // 3),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_mutated_xlsforms_give_a_form_or_form_invalid(data: st.DataObject) -> None:
    how = data.draw(st.sampled_from(["flip", "truncate", "member", "member_junk", "drop"]))
    if how == "flip":
        out = bytearray(XLSX)
        for _ in range(data.draw(st.integers(1, 8))):
            out[data.draw(st.integers(0, len(out) - 1))] ^= 1 << data.draw(st.integers(0, 7))
        blob = bytes(out)
    elif how == "truncate":
        blob = XLSX[: data.draw(st.integers(0, len(XLSX)))]
    else:
        members = dict(MEMBERS)
        name = data.draw(st.sampled_from(sorted(members)))
        if how == "drop":
            del members[name]
        elif how == "member_junk":
            members[name] = data.draw(_XML_JUNK)
        else:
            b = bytearray(members[name])
            i = data.draw(st.integers(0, max(0, len(b) - 1)))
            b[i:i] = data.draw(st.binary(min_size=1, max_size=20))
            members[name] = bytes(b)
        blob = _zip(members)
    t0 = time.monotonic()
    assert_form_or_invalid(import_xlsform, blob)
    assert time.monotonic() - t0 < 30


def test_deeply_nested_xlsform_groups_are_refused(tmp_path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "survey"
    ws.append(["type", "name", "label::English (en)"])
    for i in range(500):
        ws.append(["begin repeat" if i % 2 else "begin group", f"g{i}", "G"])
    ws.append(["text", "leaf", "Leaf"])
    for i in reversed(range(500)):
        ws.append(["end repeat" if i % 2 else "end group", "", ""])
    s = wb.create_sheet("settings")
    s.append(["form_id", "version", "form_title::English (en)"])
    s.append(["deep", 1, "Deep"])
    wb.save(tmp_path / "deep.xlsx")
    with pytest.raises(FormInvalid) as e:
        import_xlsform(tmp_path / "deep.xlsx")
    assert "too_deep" in {p.code for p in e.value.problems}


# ------------------------------------------------------------------------ limits, depth

HEAD = 'id = "t"\nversion = 1\ntitle = {en = "T"}\nlanguages = ["en"]\ndefault_language = "en"\n'


def _item(i: int) -> str:
    return f'[[items]]\nname = "q{i}"\ntype = "integer"\nlabel = {{en = "Q"}}\n'


def test_too_many_items_are_refused_before_any_is_converted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by this suite: a 4 MiB form of ~67,000 items took about two minutes to be
    refused for having more than 5,000 (every item was converted and checked first, and
    each conversion re-read the Item type's annotations). Now the count comes first."""
    calls: list[str] = []
    real = structure._Structure.item

    def counting(self: Any, raw: Any, path: str, depth: int = 0) -> Any:
        calls.append(path)
        return real(self, raw, path, depth)

    monkeypatch.setattr(structure._Structure, "item", counting)
    data = (HEAD + "".join(_item(i) for i in range(MAX_ITEMS + 1))).encode()
    with pytest.raises(FormInvalid) as e:
        load_form(data)
    assert [(p.path, p.code) for p in e.value.problems] == [("$.items", "too_many_items")]
    assert calls == []
    load_form((HEAD + "".join(_item(i) for i in range(50))).encode())
    assert len(calls) == 50


def _bounded(data: bytes, fmt: str, seconds: float, mib: float) -> list[tuple[str, str]]:
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(FormInvalid) as e:
            load_form(data, fmt=fmt)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    took = time.monotonic() - t0
    assert took < seconds, took
    assert peak < mib * 1024 * 1024, peak
    return [(p.path, p.code) for p in e.value.problems]


def test_oversized_forms_hit_limits_in_bounded_time_and_memory() -> None:
    assert _bounded(b"#" * (4 * 1024 * 1024 + 1), "toml", 1, 10) == [("$", "too_large")]
    n = 512 * 1024 // len(_item(99999))  # a 512 KiB form of ~8,500 items
    many = (HEAD + "".join(_item(i) for i in range(n))).encode()
    assert _bounded(many, "toml", 15, 200) == [("$.items", "too_many_items")]
    huge = (HEAD.replace('"T"', '"' + "x" * 500_000 + '"') + _item(0)).encode()
    assert _bounded(huge, "toml", 15, 100) == [("$.title.en", "too_long")]
    keys = HEAD + _item(0) + "[extra]\n" + "".join(f"k{i} = 1\n" for i in range(50_000))
    assert _bounded(keys.encode(), "toml", 15, 100) == [("$.extra", "unknown_field")]


@pytest.mark.parametrize(
    "expr",
    [
        "(" * 1000 + "1" + ")" * 1000,
        "not(" * 450 + "1" + ")" * 450,
        "-" * 1999 + "1",
        " or ".join(["${q0} > 1"] * 150),
        "if(" * 300 + "1" + ",1,1)" * 300,
    ],
    ids=["parens", "not", "unary", "long-or", "if"],
)
def test_deep_and_long_expressions_are_refused_or_load(expr: str) -> None:
    item = _item(1) + f'relevant = "{expr[:2000]}"\n'
    t0 = time.monotonic()
    assert_form_or_invalid(load_form, (HEAD + _item(0) + item).encode())
    assert time.monotonic() - t0 < 5


def _nested(depth: int, kind: str) -> dict[str, Any]:
    it: dict[str, Any] = {"name": "leaf", "type": "text", "label": {"en": "L"}}
    for i in range(depth):
        it = {"name": f"g{i}", "type": kind, "label": {"en": "G"}, "items": [it]}
    return {"id": "t", "version": 1, "title": {"en": "T"}, "languages": ["en"],
            "default_language": "en", "items": [it]}  # fmt: skip


@pytest.mark.parametrize("kind", ["repeat", "group"])
def test_deep_repeats_are_too_deep_in_documents_and_yaml(kind: str) -> None:
    """200 levels in a decoded document, 40 in YAML: too_deep, never a RecursionError."""
    with pytest.raises(FormInvalid) as e:
        parse_form(_nested(200, kind))
    assert {p.code for p in e.value.problems} == {"too_deep"}
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)  # only to *write* the deep YAML
    try:
        text = yaml.safe_dump(_nested(40, kind), width=10**9).encode()
    finally:
        sys.setrecursionlimit(limit)
    codes = {c for _, c in _bounded(text, "yaml", 30, 400)}
    assert codes <= {"too_deep"} and codes
