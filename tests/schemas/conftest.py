"""Shared fixtures for the survey-language tests: a small synthetic form and a builder.

Every name, label and answer here is invented; none comes from a real interview.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from schemas.survey import Form, parse_form

#: A small bilingual form exercising groups, repeats, relevance and constraints.
SAMPLE_TOML = """\
id = "t"
version = 1
title = {ko="시험", en="Test"}
languages = ["ko","en"]
default_language = "ko"
[[choices.yn]]
value="yes"
label={ko="예",en="Yes"}
[[choices.yn]]
value="no"
label={ko="아니오",en="No"}
[[items]]
name="consent"
type="select_one"
choices="yn"
required=true
label={ko="동의?",en="Consent?"}
[[items]]
name="main"
type="group"
relevant="${consent} = 'yes'"
label={ko="본",en="Main"}
[[items.items]]
name="birth_year"
type="year"
required=true
label={ko="출생",en="Born"}
[[items.items]]
name="dep"
type="year"
label={ko="출발",en="Departed"}
constraints=[{expr=". >= ${birth_year}", message={ko="출생 이후", en="after birth"}}]
[[items.items]]
name="det"
type="repeat"
max_count=3
label={ko="구금",en="Detention"}
[[items.items.items]]
name="fac"
type="select_one"
choices="yn"
required=true
label={ko="시설",en="Facility"}
[[items.items.items]]
name="yr"
type="year"
relevant="${fac} = 'yes'"
constraints=[{min=1950, max=2026, message={ko="x", en="y"}}]
label={ko="년",en="Year"}
"""

#: The same form as :data:`SAMPLE_TOML`, written in YAML by hand.
SAMPLE_YAML = """\
id: t
version: 1
title: {ko: "시험", en: Test}
languages: [ko, en]
default_language: ko
choices:
  yn:
    - value: "yes"
      label: {ko: "예", en: "Yes"}
    - value: "no"
      label: {ko: "아니오", en: "No"}
items:
  - name: consent
    type: select_one
    choices: yn
    required: true
    label: {ko: "동의?", en: "Consent?"}
  - name: main
    type: group
    relevant: "${consent} = 'yes'"
    label: {ko: "본", en: Main}
    items:
      - name: birth_year
        type: year
        required: true
        label: {ko: "출생", en: Born}
      - name: dep
        type: year
        label: {ko: "출발", en: Departed}
        constraints:
          - expr: ". >= ${birth_year}"
            message: {ko: "출생 이후", en: after birth}
      - name: det
        type: repeat
        max_count: 3
        label: {ko: "구금", en: Detention}
        items:
          - name: fac
            type: select_one
            choices: yn
            required: true
            label: {ko: "시설", en: Facility}
          - name: yr
            type: year
            relevant: "${fac} = 'yes'"
            label: {ko: "년", en: Year}
            constraints:
              - {min: 1950, max: 2026, message: {ko: x, en: y}}
"""

#: A deliberately broken form with many independent problems.
BROKEN_TOML = """\
id = "Bad Form"
version = 0
title = {ko="시험"}
languages = ["ko","en"]
default_language = "fr"
colour = "blue"
[[choices.yn]]
value="yes"
label={ko="예",en="Yes"}
[[choices.yn]]
value="yes"
label={ko="예",en="Yes"}
[[items]]
name="a"
type="select_one"
choices="nope"
label={ko="a",en="a"}
relevant="${b} = 1"
[[items]]
name="b"
type="integer"
label={ko="b",en="b"}
relevant="${a} = 'x' and ${ghost} > 1"
wat = 3
[[items]]
name="a"
type="texty"
label={ko="c",en="c"}
[[items]]
name="d"
type="text"
label={ko="d",en="d"}
relevant="${a} = = 2"
constraints=[{pattern="(?=a)", message={ko="x",en="x"}}, {min=1, message={ko="x",en="x"}}]
[[items]]
name="r"
type="repeat"
label={ko="r",en="r"}
[[items.items]]
name="inner"
type="text"
label={ko="r",en="r"}
identity="name"
[[items]]
name="e"
type="text"
label={ko="e",en="e"}
relevant="${inner} = 'x' and frob(1)"
"""


def label(text: str) -> dict[str, str]:
    """A bilingual label for the builder's two languages."""
    return {"en": text, "ko": text + "(ko)"}


def raw_form(items: list[dict[str, Any]], /, **top: Any) -> dict[str, Any]:
    """A raw (decoded) form document around ``items``; ``top`` overrides top-level keys."""
    raw: dict[str, Any] = {
        "id": "synthetic-form",
        "version": 1,
        "title": label("Synthetic"),
        "languages": ["en", "ko"],
        "default_language": "en",
        "choices": {
            "yn": [
                {"value": "yes", "label": label("Yes")},
                {"value": "no", "label": label("No")},
            ],
        },
        "items": copy.deepcopy(items),
    }
    raw.update(copy.deepcopy(top))
    return raw


def q(name: str, type_: str = "text", **kw: Any) -> dict[str, Any]:
    """A raw item."""
    out: dict[str, Any] = {"name": name, "type": type_, "label": label(name)}
    out.update(kw)
    return out


class Kit:
    """Builders handed to tests through the ``kit`` fixture (no test-module imports)."""

    SAMPLE_TOML = SAMPLE_TOML
    SAMPLE_YAML = SAMPLE_YAML
    BROKEN_TOML = BROKEN_TOML
    raw_form = staticmethod(raw_form)
    q = staticmethod(q)

    @staticmethod
    def form(items: list[dict[str, Any]], /, **top: Any) -> Form:
        return parse_form(raw_form(items, **top))


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    return Kit
