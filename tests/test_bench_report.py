"""bench/report.py renders synthetic results: every figure shows, a missed target shows its
gap note, a benchmark without results shows "not run yet"."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import report  # noqa: E402

MACHINE = {"cpu": "Synthetic CPU 9000", "cores": 2, "memory_gib": 7.5, "python": "3.11.7"}

FIGURES: dict[str, dict[str, Any]] = {
    "bundle": {  # seal misses its target
        "form": "escapee-interview v1 (shipped)",
        "records_per_bundle": 50,
        "records": 20_000,
        "mean_bundle_bytes": 91_234.5,
        "seal_records_per_s": 15_432.1,
        "open_records_per_s": 22_811.0,
        "validate_records_per_s": 15_399.0,
        "attachment": {
            "mb": 200,
            "seal_seconds": 1.234,
            "seal_peak_rss_mb": 45.6,
            "open_seconds": 0.321,
            "open_peak_rss_mb": 41.7,
        },
    },
    "tlog": {
        "entries": 1_000_000,
        "mean_entry_bytes": 130.3,
        "verify_all_entries_s": 0.913,
        "verify_entries_per_s": 1_095_290,
        "writer_append_s": 1.23,
        "writer_appends_per_s": 813_008,
        "leaf_hash_only_s": 0.377,
        "proofs": [
            {
                "tree_size": 1000,
                "inclusion_hashes_max": 10,
                "inclusion_generate_us": 26.5,
                "inclusion_verify_us": 13.3,
                "consistency_hashes_max": 11,
                "consistency_generate_us": 25.9,
                "consistency_verify_us": 17.4,
            }
        ],
        "peak_rss_mb": 612.4,
        "store": {
            "entries": 1_000_001,
            "checkpoints": 10,
            "store_mb": 187.6,
            "append_s": 13.7,
            "appends_per_s": 72_993,
            "verify_command": "syncserver audit verify --dir DIR --key VKEY",
            "verify_s": 9.87,
            "verify_entries_per_s": 101_317,
            "verify_peak_rss_mb": 53.3,
        },
    },
    "startup": {  # no DESIGN.md target: measured figures only
        "entries": 1_001_211,
        "covered_by_last_checkpoint": 1_000_211,
        "store_mb": 181.9,
        "build_s": 47.3,
        "check_s": 2.41,
        "check_entries_per_s": 415_440,
        "peak_rss_before_check_mb": 71.2,
        "peak_rss_mb": 74.8,
    },
    "match": {
        "seed": 3,
        "store_interviews": 100_000,
        "store_mb": 60.1,
        "store_build_s": 13.5,
        "bundles": 20,
        "batch": 50,
        "match_ms": {"median": 150.6, "p90": 190.1, "max": 240.3},
        "probes_ms_median": 49.4,
        "candidates_per_bundle": 5313,
        "candidates_per_bundle_median": 5101.5,
        "slowest_bundles": [{"ms": 240.3, "probes_ms": 51.7, "candidates": 7781}],
        "linked": 41,
        "queued": 17,
        "target_ms": 200.0,
        "ratio_to_target": 0.75,
    },
    "ingest": {  # the shape bench_ingest.py prints, plus a key report.py does not know
        "http": {
            "clients": 32,
            "bundles": 384,
            "records_per_s": 4321,
            "bundles_per_s": 86.4,
            "latency_ms": {"p50": 345.6, "p99": 612.3, "max": 701.9},
            "cpu_s_while_uploading": {"server_and_its_workers": 8.8, "clients": 3.3},
        },
        "in_process": {
            "records_per_s": 7654,
            "ms_per_bundle": {"area": 0.41, "persist": 2.22, "ingest": 3.33, "receipt": 0.55},
        },
        "ratio_http_to_in_process": 0.56,
        "brand_new_figure": 98_765.4,
    },
    "fuzz": {
        "bundle_open": {"examples": 20_000, "failures": 0, "seconds": 61.2, "seed": 11},
        "form_load": {"examples": 15_000, "failures": 0, "seconds": 42.8, "seed": 12},
    },
}


def render(tmp_path: Path, figures: dict[str, dict[str, Any]]) -> str:
    results = tmp_path / "results"
    results.mkdir()
    for name, figs in figures.items():
        doc = {
            "name": name,
            "command": f".venv/bin/python bench/bench_{name}.py --synthetic",
            "date": "2026-12-05 10:00 UTC",
            "machine": MACHINE,
            "figures": figs,
        }
        (results / f"{name}.json").write_text(json.dumps(doc))
    out = tmp_path / "performance.md"
    assert report.main(["--results", str(results), "--out", str(out)]) == 0
    return out.read_text()


def test_every_figure_appears(tmp_path: Path) -> None:
    page = render(tmp_path, FIGURES)
    for name, figs in FIGURES.items():
        assert f".venv/bin/python bench/bench_{name}.py --synthetic" in page
        for path, value in report.leaves(figs):
            if "target" in path:
                continue  # the targets are DESIGN.md's, shown in the target column
            assert report.fmt(value) in page, f"{name}: {path} = {value!r} not on the page"
    assert "Synthetic CPU 9000, 2 cores, 7.5 GiB memory, Python 3.11.7" in page
    assert "`brand_new_figure`" in page  # unknown keys are listed, not dropped
    # a benchmark without a target: its figures, and no row among the targets
    assert "1,001,211 entries, 1,000,211 covered by the last checkpoint, 1,000 after it" in page
    glance = page.split("## Targets at a glance", 1)[1].split("\n## ", 1)[0]
    assert "Start-up" not in glance


def test_missed_target_shows_its_gap(tmp_path: Path) -> None:
    page = render(tmp_path, FIGURES)
    assert "**Gap: seal (encode, check, sign, encrypt)**" in page
    assert report.GAP_NOTES[("bundle", "seal")]["cause"] in page
    assert report.GAP_NOTES[("bundle", "seal")]["next"] in page
    assert report.GAP_NOTES[("ingest", "p99")]["cause"] in page
    assert report.GAP_NOTES[("match", "max")]["next"] in page
    # met targets carry no gap note
    assert report.GAP_NOTES[("tlog", "verify_store")]["cause"] not in page
    assert report.GAP_NOTES[("export", "csv_seconds")]["cause"] not in page


def test_missing_benchmark_says_not_run_yet(tmp_path: Path) -> None:
    page = render(tmp_path, {k: v for k, v in FIGURES.items() if k != "export"})
    assert "not run yet: `.venv/bin/python bench/bench_export.py" in page
    # its hand-written notes stay on the page
    assert report.STATIC_NOTES["export"][0] in page
