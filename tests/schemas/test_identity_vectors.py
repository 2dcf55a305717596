"""Run every identity normalisation vector in tests/vectors/identity/.

The vectors are for implementations of normalisation v1 in other languages
(docs/spec/identity-normalisation.md); here they are checked against schemas.identity,
and against their generator, tests/vectors/generate_identity_vectors.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from schemas.errors import IdentityInputError
from schemas.identity import (
    NormalizedName,
    consonants,
    fold_initial_sound,
    normalize_name,
    normalize_province,
    romanize,
    skeleton,
)

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "tests" / "vectors" / "generate_identity_vectors.py"
VECTOR_DIR = ROOT / "tests" / "vectors" / "identity"
SPEC = ROOT / "docs" / "spec" / "identity-normalisation.md"
FILES = sorted(VECTOR_DIR.glob("*.json"))

FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "normalize_name": normalize_name,
    "normalize_province": normalize_province,
    "fold_initial_sound": fold_initial_sound,
    "romanize": romanize,
    "skeleton": skeleton,
    "consonants": consonants,
}
NAME_FIELDS = set(NormalizedName.__struct_fields__)


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_identity_vectors", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_bytes().decode("utf-8"))
    return data


def _spec_section(number: int) -> str:
    text = SPEC.read_text(encoding="utf-8")
    start = text.index(f"\n## {number}. ")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _spec_error_codes() -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)` \|", _spec_section(11), re.MULTILINE))


def test_there_are_vectors() -> None:
    assert len(FILES) >= 80


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_vector(path: Path) -> None:
    v = _load(path)
    assert v["name"] == path.stem
    assert v["description"].startswith("§")
    assert v["function"] in FUNCTIONS
    fn = FUNCTIONS[v["function"]]
    if v["expect"] == "error":
        assert set(v) == {"name", "description", "function", "input", "expect", "error"}
        with pytest.raises(IdentityInputError) as info:
            fn(v["input"])
        assert info.value.code == v["error"]
        message = str(info.value)
        if isinstance(v["input"], str):
            # §11: a message never contains the input, nor any recognisable part of it.
            assert v["input"] == "" or v["input"] not in message
            assert [w for w in v["input"].split() if len(w) >= 3 and w in message] == []
        return

    assert v["expect"] == "success"
    assert set(v) == {"name", "description", "function", "input", "expect", "output"}
    assert isinstance(v["input"], str)
    got = fn(v["input"])
    if v["function"] == "normalize_name":
        assert set(v["output"]) == NAME_FIELDS
        assert msgspec.to_builtins(got) == v["output"]
    elif v["function"] == "normalize_province":
        assert v["output"]["compatible"] == sorted(v["output"]["compatible"])
        assert {"code": got.code, "compatible": sorted(got.compatible)} == v["output"]
    else:
        assert got == v["output"]


def test_every_error_code_of_the_spec_has_a_vector() -> None:
    codes = _spec_error_codes()
    assert len(codes) == 10
    errors = {_load(p).get("error") for p in FILES} - {None}
    assert errors == codes


def test_every_function_has_a_vector() -> None:
    assert {_load(p)["function"] for p in FILES} == set(FUNCTIONS)


def test_every_spec_example_is_a_vector() -> None:
    """Each row of the table in §12 is a normalize_name vector with those fields."""
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in _spec_section(12).splitlines()
        if line.startswith("| ") and not line.startswith("| input")
    ]
    assert len(rows) == 11
    by_input = {
        v["input"]: v["output"]
        for v in map(_load, FILES)
        if v["function"] == "normalize_name" and v["expect"] == "success"
    }
    for text, surname_folded, given_folded, given_skeleton in rows:
        out = by_input[text]
        assert (out["surname_folded"], out["given_folded"], out["given_skeleton"]) == (
            surname_folded,
            given_folded,
            given_skeleton,
        ), text


def test_files_are_utf8_json_with_sorted_output_keys() -> None:
    for p in FILES:
        raw = p.read_bytes()
        assert raw.endswith(b"}\n") and not raw.endswith(b"\n\n"), p.name
        v = _load(p)
        assert list(v)[:5] == ["name", "description", "function", "input", "expect"], p.name
        if isinstance(v.get("output"), dict):
            assert list(v["output"]) == sorted(v["output"]), p.name
        assert raw.decode("utf-8") == json.dumps(v, ensure_ascii=False, indent=2) + "\n"


def test_generator_reproduces_the_committed_files() -> None:
    """The generator's case list, rendered in memory, is exactly the directory."""
    assert [p for p in VECTOR_DIR.iterdir() if p.suffix != ".json"] == []
    assert {p.stem for p in FILES} == {c.name for c in gen.CASES}
    for case in gen.CASES:
        assert gen.render(case) == (VECTOR_DIR / f"{case.name}.json").read_bytes(), case.name
    assert gen.check_vectors(VECTOR_DIR) == []


def test_generator_refuses_a_claim_the_implementation_breaks() -> None:
    """A hand-written claim that does not hold stops the generator (no file is written)."""
    case = gen.BY_NAME["name_spec_ri_yeongcheol"]
    wrong = gen.Case(
        case.name, case.function, case.text, case.description, {"surname_folded": "리"}
    )
    with pytest.raises(gen.ClaimFailed, match="name_spec_ri_yeongcheol"):
        gen.render(wrong)
    error = gen.Case("x", "normalize_name", "김", "§6.1", gen.Error("empty"))
    with pytest.raises(gen.ClaimFailed):
        gen.render(error)
