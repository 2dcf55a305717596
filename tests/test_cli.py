"""The command lines, called in-process with ``main(argv)``."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.cli import main as collector_main
from syncserver.cli import main as syncserver_main

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "schemas" / "forms" / "escapee-interview.toml"


def test_forms_check_accepts_the_shipped_form(capsys: pytest.CaptureFixture[str]) -> None:
    assert syncserver_main(["forms", "check", str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    assert "ok: form 'escapee-interview' v1" in out


def test_forms_check_lists_every_problem_and_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'id = "Bad"\nversion = 0\ntitle = {en = "t"}\nlanguages = ["en"]\n'
        'default_language = "en"\n[[items]]\nname = "a"\ntype = "text"\n'
        'label = {en = "a"}\nrelevant = "${ghost} = 1"\n',
        encoding="utf-8",
    )
    assert syncserver_main(["forms", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "has 3 problems" in err
    assert "$.id (line 1):" in err and "$.version (line 2):" in err
    assert "$.items[0].relevant (item 'a', line 10): refers to 'ghost', which does not exist" in err
    assert "hint: fix every problem" in err


def test_forms_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert syncserver_main(["forms", "check", str(tmp_path / "nope.toml")]) == 1
    assert "cannot read file" in capsys.readouterr().err


def test_syncserver_without_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert syncserver_main([]) == 2
    assert "usage: syncserver" in capsys.readouterr().out


def test_version_flags(capsys: pytest.CaptureFixture[str]) -> None:
    for main in (collector_main, syncserver_main):
        with pytest.raises(SystemExit) as e:
            main(["--version"])
        assert e.value.code == 0
        assert "sealsync 0.1.0" in capsys.readouterr().out


def test_readme_help_excerpt_is_true(capsys: pytest.CaptureFixture[str]) -> None:
    """README `--help` excerpts are kept true by this test (sigstore's check-readme)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("$ .venv/bin/syncserver --help\n") + len("$ .venv/bin/syncserver --help\n")
    excerpt = readme[start : readme.index("```", start)].rstrip()
    syncserver_main([])
    actual = capsys.readouterr().out.rstrip()
    assert excerpt == actual
