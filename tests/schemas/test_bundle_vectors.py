"""Run every bundle test vector in tests/vectors/bundle/ (docs/spec/bundle-v1.md §11)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from schemas.bundle import MemorySink, RecipientKey, open_bundle
from schemas.errors import BundleInvalid, BundleReason

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "tests" / "vectors" / "generate_bundle_vectors.py"
VECTOR_DIR = ROOT / "tests" / "vectors" / "bundle"
FILES = sorted(VECTOR_DIR.glob("*.json"))


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_bundle_vectors", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _open(v: dict[str, Any], sink: MemorySink) -> Any:
    devices = {
        uuid.UUID(k): Ed25519PublicKey.from_public_bytes(bytes.fromhex(h))
        for k, h in v["devices"].items()
    }
    return open_bundle(
        io.BytesIO(base64.b64decode(v["bundle"], validate=True)),
        recipient=RecipientKey.from_bytes(bytes.fromhex(v["recipient_private_key"])),
        device_keys=devices.get,
        sink=sink,
        project_id=uuid.UUID(v["expect_project_id"]) if "expect_project_id" in v else None,
        bundle_id=uuid.UUID(v["expect_bundle_id"]) if "expect_bundle_id" in v else None,
    )


def test_there_are_vectors() -> None:
    assert len(FILES) >= 50


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_vector(path: Path) -> None:
    v = json.loads(path.read_text())
    assert v["name"] == path.stem
    assert v["description"]
    sink = MemorySink()
    if v["expect"] == "invalid":
        assert v["reason"] in BundleReason.__members__
        with pytest.raises(BundleInvalid) as info:
            _open(v, sink)
        assert info.value.reason is BundleReason[v["reason"]]
        assert str(info.value) == "bundle could not be opened"
        assert repr(info.value) == "BundleInvalid()"
        assert sink.files == {}
        return

    assert v["expect"] == "success" and v["reason"] is None
    data = base64.b64decode(v["bundle"])
    want = v["expected"]
    opened = _open(v, sink)
    assert str(opened.bundle_id) == want["bundle_id"]
    assert hashlib.sha256(data).hexdigest() == want["sha256"]
    assert opened.sha256.hex() == want["sha256"]
    assert opened.size == len(data) == want["size"]
    m = opened.manifest
    assert str(m.device_id) == want["device_id"]
    assert m.device_seq == want["device_seq"]
    assert m.prev_bundle_sha256.hex() == want["prev_bundle_sha256"]
    assert len(opened.records) == want["record_count"] == len(want["records"])
    got_records = [
        {
            "record_id": str(r.record_id),
            "version": r.version,
            "form_id": r.form_id,
            "form_version": r.form_version,
        }
        for r in opened.records
    ]
    assert got_records == want["records"]
    got_entries = [
        {
            "record_id": str(a.record_id),
            "name": a.name,
            "media_type": a.media_type,
            "size": a.size,
            "sha256": a.sha256.hex(),
        }
        for a in m.attachments
    ]
    assert got_entries == want["attachments"]
    assert len(sink.files) == len(want["attachments"])
    for a in want["attachments"]:
        content = sink.files[(a["record_id"], a["name"])]
        assert len(content) == a["size"]
        assert hashlib.sha256(content).hexdigest() == a["sha256"]


def test_vector_files_are_exactly_the_generators() -> None:
    assert {p.stem for p in FILES} == set(gen.VECTORS)
    assert [p for p in VECTOR_DIR.iterdir() if p.suffix != ".json"] == []


def test_every_reason_has_a_vector() -> None:
    reasons = {json.loads(p.read_text())["reason"] for p in FILES}
    assert {r.name for r in BundleReason} - reasons == set()


def test_the_spec_lists_every_vector_under_its_reason() -> None:
    """docs/spec/bundle-v1.md §11 stays true to the vector directory."""
    spec = (Path(__file__).resolve().parents[2] / "docs" / "spec" / "bundle-v1.md").read_text()
    section = spec[spec.index("## 11. Test vectors") : spec.index("## 12.")]
    for p in FILES:
        v = json.loads(p.read_text())
        label = "opens" if v["reason"] is None else BundleReason[v["reason"]].value
        row = next(line for line in section.splitlines() if line.startswith(f"| {label} |"))
        assert f"`{v['name']}`" in row, v["name"]


def _run_generator(out: Path, hash_seed: str, *extra: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out), *extra],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def _tree(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_generator_is_deterministic_and_matches_committed(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _run_generator(a, "1")
    _run_generator(b, "2")
    assert _tree(a) == _tree(b)
    assert _tree(a) == _tree(VECTOR_DIR)


def test_generator_check_mode() -> None:
    assert gen.check_vectors(VECTOR_DIR) == []


def test_generator_leaves_existing_vectors_alone(tmp_path: Path) -> None:
    assert len(gen.write_vectors(tmp_path)) == len(gen.VECTORS)
    pinned = tmp_path / "single_record.json"
    pinned.write_text("pinned\n")
    (tmp_path / "wrong_recipient.json").unlink()
    assert gen.write_vectors(tmp_path) == ["wrong_recipient"]
    assert pinned.read_text() == "pinned\n"
    assert gen.check_vectors(tmp_path) == ["differs single_record.json"]
    assert "single_record" in gen.write_vectors(tmp_path, force=True)
    assert gen.check_vectors(tmp_path) == []
    (tmp_path / "stale.json").write_text("{}")
    assert gen.check_vectors(tmp_path) == ["stale file stale.json"]


@pytest.mark.parametrize(
    "content", ["single_content", "multi_chunk_content", "exact_multiple_content"]
)
def test_hand_sealer_without_lies_is_seal_bundle(content: str) -> None:
    """The hand-made sealer behind the 'lying' vectors writes what seal_bundle writes."""
    c = getattr(gen, content)()
    assert gen.seal_by_hand(c, "same seed") == gen.seal(c, "same seed").data
    two = (gen.RECIPIENT_A, gen.RECIPIENT_B)
    assert (
        gen.seal_by_hand(c, "seed 2", recipients=two) == gen.seal(c, "seed 2", recipients=two).data
    )


def test_exact_multiple_content_fills_whole_chunks() -> None:
    c = gen.exact_multiple_content()
    assert gen.payload_size(c) == 2 * 65536
    sizes = [len(d) for _, _, _, d in c.attachments]
    assert sizes[:2] == [0, 65536]
    data = gen.base_exact_multiple().data
    assert len(data) == gen.header_len() + 2 * (65536 + 16)
