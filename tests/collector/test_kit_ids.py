"""Ids people read are unique and usable (issue 11).

The kit's ids are time-ordered (UUIDv7): drafts started in the same minute shared their
first 8 characters, the only ones shown, so they could not be resumed or attached to,
and two bundles could be reported as "KEPT bundle 0190c2d4" each. Each id is now shown
as its shortest unique prefix (8 characters at least), taken back everywhere an id is
asked for; a prefix naming several ids lists them. `collector drafts --delete ID`
deletes a draft and its attachments, after asking. The clock of the kit's ids is pinned
here so that every id is made in one millisecond."""

from __future__ import annotations

import io
import os
import re
import sys
import uuid
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from kit_cli_helpers import (
    ACTOR,
    FORM,
    answered_draft,
    enroll_kit_offline,
    kit_env,
    kit_objects,
    new_kit,
    open_kit,
)
from support.project import new_project
from support.thread_server import ThreadServer

from collector import errors
from collector.cli import main as collector
from schemas.ids import new_id

SAME_MS = 1_767_225_600_123_000_000  # 2026-01-01T00:00:00.123Z, in nanoseconds


def same_ms() -> int:
    return SAME_MS


class Terminal(io.StringIO):
    """Keyboard input at a terminal: what `input()` reads, and ``isatty()``."""

    def isatty(self) -> bool:
        return True


def cli(home: Path, *args: str) -> int:
    return collector(["--home", str(home), *args])


# -- the shortest unique prefix --------------------------------------------------------------


def test_short_ids_grow_only_where_ids_would_clash() -> None:
    from collector._ids import resolve, short_ids

    shown = short_ids(["0190aaaa11", "0190aaaa12", "0190bbbbcc", "0190aaaa1"])
    assert shown == {
        "0190aaaa11": "0190aaaa11",
        "0190aaaa12": "0190aaaa12",
        "0190bbbbcc": "0190bbbb",
        "0190aaaa1": "0190aaaa1",
    }
    dashed = str(uuid.UUID("0190c2d4-5e6f-7abc-8def-0123456789ab"))
    assert short_ids([dashed]) == {dashed: "0190c2d4"}  # shown without dashes
    assert resolve("0190C2D4-5E6F", [dashed], what="draft", listed_by="x") == dashed


@given(
    st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=40),
    st.randoms(use_true_random=False),
)
def test_every_shown_id_names_its_id_alone(offsets: list[int], rng: object) -> None:
    """Ids made in at most four milliseconds (most in the same one): every id shown is at
    least 8 characters, a prefix of its id, unique, and taken back as that id."""
    from collector._ids import MIN_SHOWN, resolve, short_ids

    ids = [
        new_id(clock=lambda o=o: SAME_MS + o * 1_000_000, rng=rng.randbytes).hex  # type: ignore[attr-defined]
        for o in offsets
    ]
    shown = short_ids(ids)
    assert len(set(shown.values())) == len(set(ids))
    for i in ids:
        assert len(shown[i]) >= MIN_SHOWN and i.startswith(shown[i])
        assert resolve(shown[i], ids, what="draft", listed_by="x") == i


# -- drafts and interviews -------------------------------------------------------------------


def test_drafts_started_in_the_same_millisecond_are_told_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kit_env(monkeypatch)
    home = tmp_path / "kit"
    kit = new_kit(home, clock_ns=same_ms)
    drafts = [answered_draft(kit, seed) for seed in range(3)]
    final = kit.finalize(answered_draft(kit, 7))
    rid = str(final.record_id)
    assert len({d.draft_id[:8] for d in drafts} | {final.record_id.hex[:8]}) == 1
    shown = kit.short_ids()
    assert len(set(shown.values())) == 4 and min(map(len, shown.values())) > 8

    assert cli(home, "drafts") == 0
    listed = capsys.readouterr().out.splitlines()
    width = max(map(len, shown.values()))
    expected_drafts = sorted(d.draft_id for d in drafts)
    assert [line[: width + 2].rstrip() for line in listed[:3]] == [
        shown[i] for i in expected_drafts
    ]
    assert listed[3].startswith("finalized, waiting for `collector seal`")
    assert listed[4].startswith(f"{shown[rid]:<{width}}  {FORM.id} v{FORM.version}  finalized")

    # each draft resumes by the id shown (no input: it pauses at once, saying which)
    for d in drafts:
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
        assert cli(home, "drafts", "--resume", shown[d.draft_id]) == 0
        out = capsys.readouterr().out
        s = shown[d.draft_id]
        assert out.endswith(f"saved as draft {s}; resume with `collector drafts --resume {s}`\n")

    # files attach to the draft, and to the finalized interview, each by the id shown
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 synthetic scan\n")
    assert cli(home, "attach", shown[drafts[1].draft_id], str(scan)) == 0
    assert cli(home, "attach", shown[rid], str(scan)) == 0
    capsys.readouterr()
    kit = open_kit(home)
    assert [len(kit.draft(d.draft_id).attachments) for d in drafts] == [0, 1, 0]
    assert kit.vault.list("attachment") == sorted(
        [f"{drafts[1].record_id}/document-1.pdf", f"{rid}/document-1.pdf"]
    )


def test_a_prefix_that_names_several_ids_lists_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kit_env(monkeypatch)
    home = tmp_path / "kit"
    kit = new_kit(home, clock_ns=same_ms)
    drafts = sorted((answered_draft(kit, seed) for seed in range(3)), key=lambda d: d.draft_id)
    final = kit.finalize(answered_draft(kit, 7))
    shown = kit.short_ids()
    common = drafts[0].draft_id[:12]  # the millisecond they share
    before = kit_objects(home)

    assert cli(home, "drafts", "--resume", common) == 1
    names = ", ".join(shown[d.draft_id] for d in drafts)
    assert capsys.readouterr().err == (
        f"collector: {common!r} could be any of 3 drafts: {names}\n"
        "hint: give more characters of the id, as many as shown\n"
    )
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 synthetic scan\n")
    assert cli(home, "attach", common, str(scan)) == 1
    every = sorted([*(d.draft_id for d in drafts), final.record_id.hex])
    names = ", ".join(shown.get(i, shown.get(str(uuid.UUID(i)), "")) for i in every)
    assert capsys.readouterr().err == (
        f"collector: {common!r} could be any of 4 draft or finalized interviews: {names}\n"
        "hint: give more characters of the id, as many as shown\n"
    )
    assert cli(home, "drafts", "--delete", common[:6], "--yes") == 1
    assert capsys.readouterr().err == (
        f"collector: {common[:6]!r} is too short to name a draft: give at least 8 characters\n"
        "hint: copy the id as `collector drafts` shows it\n"
    )
    assert cli(home, "drafts", "--resume", "ffffffff") == 1
    assert capsys.readouterr().err == (
        "collector: no draft with an id starting 'ffffffff'\nhint: `collector drafts` lists them\n"
    )
    assert kit_objects(home) == before  # nothing changed by any of it
    with pytest.raises(errors.UnknownId):
        open_kit(home).draft(common)


def test_drafts_delete_asks_first_and_removes_the_draft_and_its_attachments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kit_env(monkeypatch)
    home = tmp_path / "kit"
    kit = new_kit(home, clock_ns=same_ms)
    keep, doomed = answered_draft(kit, 1), answered_draft(kit, 2)
    recording = tmp_path / "recording.ogg"
    recording.write_bytes(os.urandom(200_000))
    kit.attach(doomed, str(recording))
    kit.attach(doomed, str(recording))
    shown = kit.short_ids()
    s = shown[doomed.draft_id]
    started = f"{doomed.started_at:%Y-%m-%d %H:%M}"
    what = (
        f"draft {s} ({FORM.id} v{FORM.version}, started {started}, "
        f"{len(doomed.answers)} answers, 2 attachments)"
    )
    before, files = kit_objects(home), set(os.listdir(home / "objects"))

    # not at a terminal and no --yes: refused, nothing deleted
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    assert cli(home, "drafts", "--delete", s) == 1
    assert capsys.readouterr().err == (
        f"collector: refusing to delete {what} without confirmation (nothing was deleted)\n"
        "hint: add --yes to delete it from a script\n"
    )
    # at a terminal, the answer defaults to no
    for answer in ("\n", "n\n", "nope\n"):
        monkeypatch.setattr(sys, "stdin", Terminal(answer))
        assert cli(home, "drafts", "--delete", s) == 1
        out = capsys.readouterr().out
        assert out == f"delete {what} from this kit? It cannot be undone. [y/N] nothing deleted\n"
    assert kit_objects(home) == before and set(os.listdir(home / "objects")) == files

    # yes: the draft and both recordings are overwritten and gone from the vault
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert cli(home, "drafts", "--delete", s) == 0
    assert capsys.readouterr().out.endswith(
        f"[y/N] deleted {what}: overwritten and removed from the kit\n"
    )
    after = kit_objects(home)
    assert after["draft"] == [keep.draft_id] and after["attachment"] == []
    assert len(set(os.listdir(home / "objects")) & files) == len(files) - 3
    assert open_kit(home).draft(keep.draft_id).answers == keep.answers  # the other stays

    # --yes, for scripts; the longer id shown before still works (alone now, it shows
    # as 8 characters)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert cli(home, "drafts", "--delete", shown[keep.draft_id], "--yes") == 0
    assert capsys.readouterr().out.startswith(f"deleted draft {keep.draft_id[:8]} (")
    assert kit_objects(home)["draft"] == []
    assert cli(home, "drafts") == 0
    assert capsys.readouterr().out == "no drafts\n"


# -- bundles -------------------------------------------------------------------------------


def refusing_server() -> web.Application:
    """A server that refuses every upload (as it would a malformed one), so that every
    bundle is kept and named."""

    async def refuse(request: web.Request) -> web.Response:
        await request.read()
        body = {"error": {"code": "invalid", "message": "synthetic refusal", "hint": "none"}}
        return web.json_response(body, status=400)

    app = web.Application()
    app.router.add_post("/v1/uploads", refuse)
    return app


def test_kept_bundles_sealed_in_the_same_millisecond_are_named_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kit_env(monkeypatch)
    home = tmp_path / "kit"
    kit = new_kit(home, clock_ns=same_ms)
    project = new_project(tmp_path / "srv", actor=ACTOR)
    with ThreadServer(refusing_server) as server:
        enroll_kit_offline(kit, project, server.url)
        for seed in range(3):
            kit.finalize(answered_draft(kit, seed))
        bundles = kit.seal(max_records=1)
        assert len(bundles) == 3 and len({b.hex[:12] for b in bundles}) == 1
        assert cli(home, "sync") == 1
    project.close()
    out = capsys.readouterr()
    summary = "0 of 3 bundles uploaded; all 3 are kept on this laptop (reasons below)"
    assert out.out.splitlines()[-1] == summary
    kept = re.findall(r"^KEPT bundle ([0-9a-f]+): (.*)$", out.err, re.M)
    assert [why for _, why in kept] == ["server answered 400: synthetic refusal (none)"] * 3
    names = [name for name, _ in kept]
    assert len(set(names)) == 3 and all(len(n) > 8 for n in names)
    assert sorted(next(b for b in bundles if b.hex.startswith(n)) for n in names) == sorted(bundles)
    assert len(open_kit(home).outbox()) == 3  # every bundle kept
