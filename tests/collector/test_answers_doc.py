"""docs/answers-file.md is true (issue 11): every example in it is entered by
`collector interview escapee-interview --answers` as written, the complete example shows
every type of answer the form has, and `collector interview --help` and the README point
to the document."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from kit_cli_helpers import FORM, kit_env, new_kit, open_kit

from collector.cli import main as collector

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "answers-file.md"
MARK = re.compile(
    r"<!-- example: (\S+)( \(with --stopped-early\))? -->\n```(toml|json)\n(.*?)```", re.S
)


def examples() -> list[tuple[str, bool, str]]:
    """(file name, stopped early, text) of every example the document marks."""
    found = [(m[1], bool(m[2]), m[4]) for m in MARK.finditer(DOC.read_text(encoding="utf-8"))]
    assert [name for name, *_ in found] == ["complete.toml", "stopped-early.json"]
    return found


@pytest.mark.parametrize(("name", "stopped", "text"), examples())
def test_every_example_in_the_document_is_accepted(
    name: str,
    stopped: bool,
    text: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kit_env(monkeypatch)
    home = tmp_path / "kit"
    new_kit(home)
    answers = tmp_path / name
    answers.write_text(text, encoding="utf-8")
    args = ["--home", str(home), "interview", FORM.id, "--answers", str(answers)]
    assert collector([*args, *(["--stopped-early"] if stopped else [])]) == 0
    out = capsys.readouterr()
    assert out.err == "" and out.out.startswith("answers checked and finalized as interview ")
    [record] = open_kit(home).finalized_records()
    given = tomllib.loads(text) if name.endswith(".toml") else json.loads(text)
    if "interview_date" in given:
        given["interview_date"] = str(given["interview_date"])  # a TOML date: its text
    assert record.answers == given and record.stopped_early is stopped


def test_the_complete_example_shows_every_type_of_answer() -> None:
    [(_, _, text), _] = examples()
    given = tomllib.loads(text)
    types = {item.name: item.type for item, _ in FORM.walk()}
    shown = {types[name] for name in given}
    shown |= {types[name] for entry in given["detention"] for name in entry}
    assert shown >= {
        "text", "integer", "decimal", "boolean", "date", "year",
        "select_one", "select_multiple", "repeat",
    }  # fmt: skip


def test_interview_help_and_the_readme_point_to_the_document(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        collector(["interview", "--help"])
    assert "docs/answers-file.md" in " ".join(capsys.readouterr().out.split())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "[docs/answers-file.md](docs/answers-file.md)" in readme
