"""`make demo` runs scripts/demo.py: it must succeed and say what it did."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def test_demo_seals_opens_validates_and_rejects_tampering(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    assert spec and spec.loader
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    monkeypatch.setattr(demo, "OUT", tmp_path / "demo-output")
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "3 synthetic responses" in out
    assert "3/3 records valid against escapee-interview v1" in out
    assert "the records read back are exactly the records sealed" in out
    assert "rejected ('bundle could not be opened')" in out
    assert "another project's key cannot open it" in out
    bundles = list((tmp_path / "demo-output").glob("*.bundle"))
    assert len(bundles) == 1
