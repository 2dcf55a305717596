"""`make demo` runs scripts/demo.py: the whole flow on loopback; it must succeed and
report each step."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow
def test_demo_runs_the_whole_flow(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    assert spec and spec.loader
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    monkeypatch.setattr(demo, "OUT", tmp_path / "demo-output")
    assert demo.main() == 0
    out = capsys.readouterr().out
    for expected in [
        "1. init a project and publish the interview form",
        "listening on http://127.0.0.1:",
        "keys sealed under Argon2id",
        "holds a certificate signed by the project",
        "forms fetched and verified",
        "respondents' names: none found",
        "3 bundles (",
        "the interviews and the recording are gone from the kit",
        "consistent with the last one seen",
        "the same bundle sent again gets the same receipt",
        "quarantined: 1 item (bundle could not be opened: recipient stanza failed to open)",
        "12 interviews, 11 respondents: 1 automatic link",
        "1 pair in the review queue",
        "12 interviews",
        "sensitive columns redacted",
        "11 distinct respondent ids",
        "signed checkpoints verified",
    ]:
        assert expected in out, expected
    assert "FAILED" not in out
    exports = list((tmp_path / "demo-output").glob("run-*/export/*.csv"))
    assert {p.name for p in exports} >= {"escapee-interview.csv"}
