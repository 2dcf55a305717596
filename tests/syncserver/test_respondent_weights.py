"""The matching weights file: shipped, loaded, refused, re-estimated
(docs/spec/respondent-matching.md §7, §9)."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import pytest

from syncserver.errors import ConfigError, WeightsError
from syncserver.project import Project
from syncserver.respondents import Matcher, default_weights, estimate, load_weights, render_weights
from syncserver.respondents._weights import M_FLOOR

SHIPPED = Path(__file__).resolve().parents[2] / "syncserver" / "respondents" / "weights-v1.toml"


def test_the_shipped_weights() -> None:
    w = default_weights()
    assert (w.version, w.token_version) == (1, 1)
    assert "estimate.py" in w.source and "--seeds 2 5 6" in w.source  # not the test seeds
    assert w.thresholds.review < w.thresholds.auto_link
    # agreement is evidence for, disagreement against, a missing answer neither
    assert w.name.exact.bits > 10 and w.name.different.bits < -5
    assert abs(w.name.missing.bits) < 0.5 and w.demographics.missing.bits == 0
    assert w.demographics.far.bits < -8
    assert [y.bits > 0 for y in w.birth_year] == [True, False, False]
    assert w.share_of("김") > 0.2 and w.share_of("독고") == w.tf.surname_default
    assert load_weights(SHIPPED) == w


def test_render_and_load_round_trip(tmp_path: Path) -> None:
    w = default_weights()
    path = tmp_path / "w.toml"
    path.write_text(render_weights(w, header="a comment\nanother"), encoding="utf-8")
    assert path.read_text(encoding="utf-8").startswith("# a comment\n# another\n")
    back = load_weights(path)
    assert back.thresholds == w.thresholds and back.surname_share.keys() == w.surname_share.keys()
    pairs = zip(msgspec.structs.astuple(back.name), msgspec.structs.astuple(w.name), strict=True)
    for a, b in pairs:
        assert a.m == pytest.approx(b.m, rel=1e-5) and a.u == pytest.approx(b.u, rel=1e-5)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: "bogus = 1\n" + t, "unknown field `bogus`"),
        (lambda t: t.replace("[thresholds]", "[thresholds\n"), "is not TOML"),
        (lambda t: t.replace("exact = { m = ", "exact = { m = 7"), "<= 1.0"),
        (lambda t: t.replace("auto_link = ", "auto_link = -100 #"), "must not exceed"),
        (lambda t: t.replace("version = 1\n", "version = 0\n", 1), ">= 1"),
        (lambda t: t + "\n# " + "x" * 300_000, "larger than 256 KiB"),
    ],
)
def test_bad_files_are_refused_with_the_reason(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "w.toml"
    path.write_text(edit(SHIPPED.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(WeightsError, match=message) as e:
        load_weights(path)
    assert "w.toml" in str(e.value) and e.value.hint
    assert isinstance(e.value, ConfigError)


def test_unreadable_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="cannot read the weights file"):
        load_weights(tmp_path / "missing.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(WeightsError, match="not UTF-8"):
        load_weights(tmp_path / "bin.toml")


def test_a_project_uses_its_own_weights(project: Project, tmp_path: Path) -> None:
    own = msgspec.structs.replace(default_weights(), version=7)
    (project.config.root / "mine.toml").write_text(render_weights(own), encoding="utf-8")
    configured = msgspec.structs.replace(
        project.config,
        respondents=msgspec.structs.replace(project.config.respondents, weights="mine.toml"),
    )
    project.config = configured
    assert Matcher.for_project(project).weights.version == 7
    project.config = msgspec.structs.replace(
        configured, respondents=msgspec.structs.replace(configured.respondents, weights="no.toml")
    )
    with pytest.raises(WeightsError, match="no.toml"):
        Matcher.for_project(project)


def mass_u(base, unseen):  # type: ignore[no-untyped-def]
    return 1 - sum(getattr(base.name, lv).u for lv in unseen)


def test_estimate_from_labelled_pairs() -> None:
    base = default_weights()
    matches = ["exact/0/0/same"] * 60 + ["folded/1/0/same"] * 30 + ["missing/0/1/unknown"] * 10
    randoms = ["different/far"] * 990 + ["surname/0/0/same"] * 10
    w = estimate(base, matches, randoms, source="test")
    assert (w.version, w.source, w.thresholds) == (base.version + 1, "test", base.thresholds)
    # levels seen in neither sample keep their share; the rest is shared out by the
    # sample, Jeffreys-smoothed (half a pair more at each level)
    unseen = ("skeleton", "typo", "given")
    assert [getattr(w.name, lv).m for lv in unseen] == [getattr(base.name, lv).m for lv in unseen]
    mass = 1 - sum(getattr(base.name, lv).m for lv in unseen)
    assert w.name.exact.m == pytest.approx(mass * 60.5 / (100 + 0.5 * 5), rel=1e-9)
    assert w.name.different.m == pytest.approx(mass * 0.5 / 102.5)  # random pairs only
    assert w.birth_year[2] == base.birth_year[2]  # seen in neither sample
    assert w.birth_year[1].m == pytest.approx((1 - base.birth_year[2].m) * 30.5 / 101)
    assert w.province.compatible == base.province.compatible
    # a level random pairs show and a large sample of true pairs never does: floored
    big = estimate(base, ["exact/0/0/same"] * 5000, ["exact/2/0/same"], source="big")
    assert big.birth_year[2].m == M_FLOOR
    # seen in neither sample: as informative as before
    assert (w.demographics.missing.m, w.demographics.missing.u) == (
        base.demographics.missing.m,
        base.demographics.missing.u,
    )
    assert w.name.surname.u == pytest.approx(mass_u(base, unseen) * 10.5 / (1000 + 0.5 * 5))
    # u kept when there are no random pairs
    only_m = estimate(base, matches, source="m only")
    assert [x.u for x in msgspec.structs.astuple(only_m.name)] == [
        x.u for x in msgspec.structs.astuple(base.name)
    ]
    assert all(0 < x.m <= 1 and 0 < x.u <= 1 for x in msgspec.structs.astuple(w.name))
    assert not math.isnan(w.name.exact.bits)
    with pytest.raises(ValueError):
        estimate(base, ["nonsense"], source="bad")
