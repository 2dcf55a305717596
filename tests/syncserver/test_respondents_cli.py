"""`syncserver respondents …` in-process: the review queue through the command line,
identity shown only on request (and logged), errors with a hint. Synthetic names only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from respondent_helpers import Env, interview
from support.project import init_by_cli, reopen

from syncserver.cli import main
from syncserver.respondents import load_weights


@pytest.fixture
def proj(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[Path, Path]]:
    """A project holding a renamed respondent (one review item) and a plain one."""
    key, d = tmp_path / "project.key", tmp_path / "proj"
    init_by_cli(d, key)
    project = reopen(d, key_file=key)
    try:
        env = Env.create(project)
        env.ingest([interview("독고세린", province="kaesong", born=1961, left=2003, seed=1)])
        env.ingest([interview("독고하늘", province="kaesong", born=1961, left=2003, seed=2)])
        env.ingest([interview("남궁하윤", born=1990, seed=3)])
    finally:
        project.close()
    capsys.readouterr()
    yield d, key


def run(proj: tuple[Path, Path], *argv: str) -> int:
    d, key = proj
    return main(["respondents", *argv, "--dir", str(d), "--key-file", str(key)])


def test_review_a_pair_link_and_unlink(
    proj: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(proj, "candidates") == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.strip()[:1].isdigit()]
    assert len(lines) == 1 and "surname/0/0/same" in lines[0] and "open" in lines[0]
    item, _score, _levels, _state, a, b = lines[0].split()
    assert "link --item N" in out and "독고" not in out

    assert run(proj, "show", item) == 0
    out = capsys.readouterr().out
    assert f"review item {item}: open" in out and a in out and b in out
    assert "독고" not in out  # no identity without --include-sensitive

    assert run(proj, "show", item, "--include-sensitive") == 0
    out, err = capsys.readouterr()
    assert "name=독고세린" in out and "name=독고하늘" in out and "born=1961" in out
    assert "recorded in the audit log" in err

    assert run(proj, "link", "--item", item) == 0
    assert "linked:" in capsys.readouterr().out
    assert run(proj, "candidates") == 0
    assert "the review queue is empty" in capsys.readouterr().out
    assert run(proj, "show", a) == 0
    out = capsys.readouterr().out
    assert "2 interview(s)" in out and "manual" in out and "독고" not in out

    assert run(proj, "unlink", b) == 0
    assert f"interview {b} left respondent" in capsys.readouterr().out
    assert run(proj, "show", b) == 0
    out = capsys.readouterr().out
    assert "1 interview(s)" in out and "removed" in out and "distinct" in out

    assert run(proj, "stats") == 0
    out = capsys.readouterr().out
    assert "interviews       3" in out and "respondents      3" in out

    d, _ = proj
    assert main(["audit", "verify", "--dir", str(d)]) == 0
    capsys.readouterr()


def test_distinct_by_ids_then_estimate_and_rebuild(
    proj: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(proj, "candidates") == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "open" in ln)
    a, b = line.split()[-2:]
    assert run(proj, "distinct", a, b) == 0
    assert "different people" in capsys.readouterr().out
    assert run(proj, "candidates", "--all") == 0
    assert "distinct" in capsys.readouterr().out

    out_file = tmp_path / "weights-v2.toml"
    assert run(proj, "estimate", "-o", str(out_file)) == 1  # no link carries levels yet
    assert "at least 200" in capsys.readouterr().err
    assert run(proj, "rebuild", "--everything") == 0
    assert "rebuilt: 0 interviews matched" in capsys.readouterr().out  # nothing changed


def test_estimate_writes_a_loadable_weights_file(
    proj: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(proj, "link", "--item", "1") == 0
    capsys.readouterr()
    out_file = tmp_path / "weights-v2.toml"
    assert run(proj, "estimate", "-o", str(out_file), "--min-pairs", "1") == 0
    assert "m from 1 linked pairs" in capsys.readouterr().out
    w = load_weights(out_file)
    assert w.version == 2 and "1 linked pairs" in w.source


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["link", "0190aaaa-0000-7000-8000-000000000000"], "name two interviews"),
        (["link", "x", "y"], "not an interview or respondent id"),
        (["show", "0190aaaa-0000-7000-8000-000000000000"], "no respondent or interview"),
        (["show", "999"], "no review item 999"),
        (["unlink", "0190aaaa-0000-7000-8000-000000000000"], "has no respondent"),
        (["link", "--item", "1", "0190aaaa-0000-7000-8000-000000000000"], "not both"),
    ],
)
def test_errors_say_what_to_do(
    proj: tuple[Path, Path], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run(proj, *argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
