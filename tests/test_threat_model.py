"""docs/threat-model.md cannot rot: every test it names exists, and every claim names one.

The document's claims are the bullets of its "### Cannot" sections; each must name at
least one test as `tests/path/test_file.py::test_name`. Every such reference anywhere in
the document must point at a file that exists and defines that test function (checked
with ast, so a test commented out or renamed is caught). Every adversary section
(`## A<n>. …`) must keep its "Can", "Cannot" and "Limits" sections, and the adversaries
the issue asked for must stay in the document.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "threat-model.md"
REF = re.compile(r"(?<![\w/])(tests/[\w./-]+\.py)::(\w+)")

#: Adversaries the model must keep (issue 6, DESIGN.md): words of their headings.
REQUIRED = [
    "powered off",
    "powered on and unlocked",
    "coerced passphrase",
    "network observer",
    "active network attacker",
    "enrolled device",
    "without the project secret",
    "with the project secret",
    "rewrites history",
    "role token",
    "population-register",
    "accidents",
]


@dataclass
class Section:
    title: str
    subsections: dict[str, list[str]] = field(default_factory=dict)  # h3 title → bullets


def sections(text: str) -> list[Section]:
    """Split into `##` sections, each into `###` subsections holding their top-level
    bullets (a bullet runs on over indented continuation lines)."""
    out: list[Section] = []
    sub: list[str] | None = None
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        if line.startswith("## "):
            out.append(Section(line[3:].strip()))
            sub = None
        elif line.startswith("### ") and out:
            sub = out[-1].subsections.setdefault(line[4:].strip(), [])
        elif line.startswith("#"):
            sub = None
        elif sub is not None and line.startswith("- "):
            sub.append(line[2:])
        elif sub is not None and sub and line.startswith("  ") and line.strip():
            sub[-1] += " " + line.strip()
    return out


@cache
def defined_tests(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"), filename=path)
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    )


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_the_parser_finds_claims_and_references() -> None:
    text = """## A1. X\n### Can\n- a\n### Cannot\n- b `tests/x/test_y.py::test_z`\n  and more
  `tests/x/test_y.py::test_w`\n- c\n### Limits\n- d\n```\n- not a bullet\n```\n"""
    (sec,) = sections(text)
    assert sec.subsections["Cannot"] == [
        "b `tests/x/test_y.py::test_z` and more `tests/x/test_y.py::test_w`",
        "c",
    ]
    assert REF.findall(sec.subsections["Cannot"][0]) == [
        ("tests/x/test_y.py", "test_z"),
        ("tests/x/test_y.py", "test_w"),
    ]
    assert REF.findall("see xtests/a.py::test_b") == []


def test_every_referenced_test_exists() -> None:
    refs = sorted(set(REF.findall(doc_text())))
    assert len(refs) >= 50
    missing = []
    for path, name in refs:
        if not (ROOT / path).is_file():
            missing.append(f"{path} (no such file)")
        elif name not in defined_tests(path):
            missing.append(f"{path}::{name} (no such test function)")
    assert not missing, "docs/threat-model.md names tests that do not exist:\n" + "\n".join(missing)


def test_every_claim_names_a_test() -> None:
    claims = [
        (sec.title, bullet)
        for sec in sections(doc_text())
        for title, bullets in sec.subsections.items()
        if title.startswith("Cannot")
        for bullet in bullets
    ]
    assert len(claims) >= 40
    bare = [f"{title}: {bullet[:100]}" for title, bullet in claims if not REF.search(bullet)]
    assert not bare, "claims without a test in docs/threat-model.md:\n" + "\n".join(bare)


def test_every_adversary_says_what_it_can_cannot_and_where_we_stop() -> None:
    adversaries = [s for s in sections(doc_text()) if re.match(r"A\d+\. ", s.title)]
    assert len(adversaries) >= 11
    for sec in adversaries:
        for part in ("Can", "Cannot", "Limits"):
            assert sec.subsections.get(part), f"{sec.title}: no '### {part}' bullets"


@pytest.mark.parametrize("words", REQUIRED)
def test_the_required_adversaries_are_modelled(words: str) -> None:
    titles = [s.title.lower() for s in sections(doc_text())]
    assert any(words in t for t in titles), f"no adversary section about {words!r}"
