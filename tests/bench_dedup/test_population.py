"""The synthetic respondent population (bench/dedup/population.py) and the deduplication
scorer (bench/dedup/evaluate.py): deterministic, shaped like the population in DOMAIN.md,
every kind of variation present, ground truth consistent, scores computed right."""

from __future__ import annotations

import json
import math
import random
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "dedup"))
import evaluate  # noqa: E402
import population as P  # noqa: E402

from schemas.forms import shipped_form  # noqa: E402

FORM = shipped_form("escapee-interview")
NAME_VARIANTS = {
    "name_missing",
    "romanized:rr",
    "romanized:mr",
    "romanized:mr_plain",
    "romanized:popular",
    "north_south",
    "hangul_spacing",
    "typo",
    "name_changed",
}
HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture(scope="module")
def pop() -> P.Population:
    return P.generate(20_000, 0.10, seed=1)


@pytest.fixture(scope="module")
def persons(pop: P.Population) -> dict[str, P.Person]:
    return {p.person_id: p for p in pop.persons}


# ----------------------------------------------------------------------------- determinism


def _dump(pop: P.Population) -> list[str]:
    return [json.dumps([iv.record(), iv.truth()], ensure_ascii=False) for iv in pop.interviews]


def test_same_seed_same_population_other_seed_another() -> None:
    a, b, c = P.generate(2_000, seed=7), P.generate(2_000, seed=7), P.generate(2_000, seed=8)
    assert a.persons == b.persons and _dump(a) == _dump(b)
    assert a.persons != c.persons and _dump(a) != _dump(c)


def test_global_random_state_is_neither_used_nor_disturbed() -> None:
    random.seed(123)
    before = random.random()
    random.seed(123)
    first = _dump(P.generate(500, seed=3))
    assert random.random() == before
    random.seed(999)
    assert _dump(P.generate(500, seed=3)) == first


def test_cli_writes_interviews_and_truth_deterministically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outs, summaries = [], []
    for run in ("a", "b"):
        out = tmp_path / f"{run}.jsonl"
        args = ["--size", "400", "--duplicates", "0.1", "--seed", "5", "--out", str(out)]
        assert P.main(args) == 0
        outs.append((out.read_bytes(), (tmp_path / f"{run}.truth.jsonl").read_bytes()))
        summaries.append(json.loads(capsys.readouterr().out))
    assert outs[0] == outs[1]
    summary = summaries[0]
    records = [json.loads(line) for line in outs[0][0].decode().splitlines()]
    truth = [json.loads(line) for line in outs[0][1].decode().splitlines()]
    assert len(records) == len(truth) == summary["interviews"]
    assert set(records[0]) == {
        "interview_id",
        "organisation",
        "respondent_name",
        "sex",
        "birth_year",
        "province_of_origin",
        "departure_year",
    }  # nothing of the ground truth reaches the matcher's input
    assert [r["interview_id"] for r in records] == [t["interview_id"] for t in truth]
    assert len({t["person_id"] for t in truth}) == 400


# ----------------------------------------------------------------------------- shape


def test_sizes_and_duplicate_rate(pop: P.Population) -> None:
    per_person = Counter(iv.person_id for iv in pop.interviews)
    assert len(pop.persons) == len(per_person) == 20_000
    counts = Counter(per_person.values())
    assert set(counts) == {1, 2, 3}
    assert counts[2] + counts[3] == 2_000  # exactly 10% interviewed more than once
    assert abs(counts[3] / 2_000 - P.THRICE_SHARE) < 0.02
    assert len(pop.interviews) == 20_000 + counts[2] + 2 * counts[3]
    other = P.generate(1_000, duplicates=0.25, seed=2)
    assert sum(c > 1 for c in Counter(iv.person_id for iv in other.interviews).values()) == 250


def test_surname_frequencies_follow_the_table(pop: P.Population) -> None:
    n = len(pop.persons)
    seen = Counter(p.surname_north for p in pop.persons)
    shares = P.surname_shares()
    assert set(seen) <= set(shares)
    for surname, share in shares.items():
        tolerance = 4 * math.sqrt(share * (1 - share) / n) + 0.001
        assert abs(seen[surname] / n - share) <= tolerance, surname
    kim_lee_park = (seen["김"] + seen["리"] + seen["박"]) / n
    assert 0.45 <= kim_lee_park <= 0.55  # "about half the population"
    assert seen["남궁"] > 0  # the rare two-syllable surname occurs
    # 리 is written 이 by most people, 리 by some
    written = Counter(p.surname for p in pop.persons if p.surname_north == "리")
    assert written["이"] > written["리"] > 0.2 * seen["리"]


def test_sex_years_and_provinces(pop: P.Population) -> None:
    n = len(pop.persons)
    assert abs(sum(p.sex == "female" for p in pop.persons) / n - P.FEMALE_RATE) < 0.015
    births = Counter(p.birth_year for p in pop.persons)
    assert min(births) >= 1950 and max(births) <= 2005
    assert max(births, key=births.__getitem__) in range(1970, 1990)  # skewed
    departures = Counter(p.departure_year for p in pop.persons)
    assert min(departures) >= 2000 and max(departures) <= 2022
    assert departures[2008] > 5 * departures[2019] > 5 * departures[2021]  # arrivals' shape
    provinces = Counter(p.province_of_origin for p in pop.persons)
    assert [v for v, _ in provinces.most_common(2)] == ["north_hamgyong", "ryanggang"]
    # every recorded answer is a value the shipped form accepts
    form_provinces = {c.value for c in FORM.choices["province"]}
    form_sexes = {c.value for c in FORM.choices["sex"]}
    for iv in pop.interviews:
        assert iv.province_of_origin in form_provinces
        assert iv.sex in form_sexes
        assert 1920 <= iv.birth_year <= iv.departure_year
        assert iv.respondent_name is None or 0 < len(iv.respondent_name) <= 40
    assert set(P.PROVINCE_WEIGHTS) <= form_provinces
    assert set(P.PROVINCE_ALTERNATIVES) == set(P.PROVINCE_WEIGHTS)


def test_different_people_share_name_sex_and_birth_year(pop: P.Population) -> None:
    summary = P.summary(pop)
    assert summary["person_pairs_same_name_sex_birth_year"] >= 100
    assert summary["interview_pairs_different_persons_same_name_sex_birth_year"] >= 50
    by_key: dict[tuple[str, str, int], set[str]] = {}
    for p in pop.persons:
        by_key.setdefault((p.name, p.sex, p.birth_year), set()).add(p.person_id)
    assert max(len(ids) for ids in by_key.values()) >= 3


def test_every_variant_kind_occurs_at_about_its_rate(pop: P.Population) -> None:
    counts = Counter(v for iv in pop.interviews for v in iv.variants)
    assert set(counts) == set(P.VARIANT_KINDS)
    assert all(counts[kind] >= 20 for kind in P.VARIANT_KINDS)
    n = len(pop.interviews)
    named = n - counts["name_missing"]
    romanized = sum(counts[k] for k in P.VARIANT_KINDS if k.startswith("romanized:"))
    assert abs(counts["name_missing"] / n - P.NAME_MISSING_RATE) < 0.01
    assert abs(romanized / named - P.ROMANIZED_RATE) < 0.015
    assert abs(counts["birth_year_off"] / n - P.BIRTH_YEAR_OFF_RATE) < 0.01
    assert abs(counts["departure_year_off"] / n - P.DEPARTURE_YEAR_OFF_RATE) < 0.01
    assert abs(counts["province_alt"] / n - P.PROVINCE_ALT_RATE) < 0.01
    assert abs(counts["typo"] / named - P.TYPO_RATE) < 0.01
    changed = {iv.person_id for iv in pop.interviews if "name_changed" in iv.variants}
    assert abs(len(changed) / 2_000 - P.NAME_CHANGE_RATE) < 0.02


# ----------------------------------------------------------------------------- ground truth


def test_ground_truth_is_consistent(pop: P.Population, persons: dict[str, P.Person]) -> None:
    ids = [iv.interview_id for iv in pop.interviews]
    assert len(set(ids)) == len(ids)
    by_person: dict[str, list[P.Interview]] = {}
    for iv in pop.interviews:
        by_person.setdefault(iv.person_id, []).append(iv)
    for pid, ivs in by_person.items():
        person = persons[pid]
        assert len({iv.organisation for iv in ivs}) == len(ivs)  # different organisations
        assert sum("name_changed" in iv.variants for iv in ivs) == (
            0 if person.new_given_name is None else len(ivs) - 1
        )
        for iv in ivs:
            assert iv.sex == person.sex
            v = set(iv.variants)
            assert v <= set(P.VARIANT_KINDS)
            assert (iv.respondent_name is None) == ("name_missing" in v)
            if not v & NAME_VARIANTS:
                assert iv.respondent_name == person.name
            assert abs(iv.birth_year - person.birth_year) == ("birth_year_off" in v)
            assert abs(iv.departure_year - person.departure_year) == ("departure_year_off" in v)
            if "province_alt" in v:
                alternatives = P.PROVINCE_ALTERNATIVES[person.province_of_origin]
                assert iv.province_of_origin in alternatives
            else:
                assert iv.province_of_origin == person.province_of_origin
    truth = P.pairs_truth(pop.interviews)
    assert len(truth) == sum(math.comb(len(ivs), 2) for ivs in by_person.values())
    owner = {iv.interview_id: iv.person_id for iv in pop.interviews}
    assert all(len(pair) == 2 and len({owner[i] for i in pair}) == 1 for pair in truth)


def test_name_variants_look_as_described(pop: P.Population, persons: dict[str, P.Person]) -> None:
    for iv in pop.interviews:
        person, v, name = persons[iv.person_id], set(iv.variants), iv.respondent_name
        if name is None:
            continue
        if any(k.startswith("romanized:") for k in v):
            assert not HANGUL.search(name)
            assert re.fullmatch(r"[A-Za-zŏŭŎŬ' -]+", name), name
        else:
            assert HANGUL.search(name)
            assert (" " in name) == ("hangul_spacing" in v)
        if v & NAME_VARIANTS == {"north_south"}:
            other_surname = P.to_south(person.surname_north)
            other_given = P.to_south(person.given_north)
            if not person.north_habit:
                other_surname, other_given = person.surname_north, person.given_north
            assert name == other_surname + other_given != person.name
        if v & NAME_VARIANTS == {"typo"}:
            assert name != person.name and len(name) == len(person.name)
        if "name_changed" in v and v & NAME_VARIANTS == {"name_changed"}:
            assert name.startswith(person.surname) and name != person.name


def test_orthography_and_romanization_rules() -> None:
    assert [P.to_south(s) for s in ["리", "로", "류", "림", "량", "라", "녀", "렴", "려"]] == [
        "이", "노", "유", "임", "양", "나", "여", "염", "여",
    ]  # fmt: skip
    assert P.to_south("련희") == "연희" and P.to_south("룡철") == "용철"
    assert P.to_south("순녀") == "순녀" and P.to_south("김") == "김"
    assert P.romanize_rr("영철") == "yeongcheol" and P.romanize_rr("정희") == "jeonghui"
    assert P.romanize_mr("영철") == "yŏngch'ŏl"
    assert P.romanize_mr("영철", diacritics=False) == "yongchol"
    assert P.romanize_mr("정희") == "chŏnghŭi" and P.romanize_mr("국복") == "kukpok"
    assert P.romanize_mr("영복") == "yŏngbok"  # voiced after a sonorant
    rng = random.Random(0)
    popular = {P.romanize_popular("영철", rng) for _ in range(200)}
    assert "youngchul" in popular and len(popular) > 3


def test_typos_change_one_thing() -> None:
    rng = random.Random(4)
    for _ in range(300):
        typo = P.typo_hangul("김영철", rng)
        assert typo != "김영철" and len(typo) == 3 and all(P.is_syllable(c) for c in typo)
        latin = P.typo_latin("Kim Yeongcheol", rng)
        assert latin != "Kim Yeongcheol" and abs(len(latin) - len("Kim Yeongcheol")) <= 1


# ----------------------------------------------------------------------------- evaluate


def _p(a: str, b: str) -> frozenset[str]:
    return frozenset({a, b})


def test_evaluate_arithmetic() -> None:
    truth = {_p("a", "b"), _p("c", "d"), _p("e", "f"), _p("g", "h"), _p("i", "j")}
    auto = {_p("a", "b"), _p("c", "d"), _p("x", "y")}
    review = {_p("e", "f"), _p("a", "b"), _p("y", "z"), _p("q", "r")}
    m = evaluate.evaluate(auto, review, truth)
    assert m["true_pairs"] == 5
    assert (m["auto_links"], m["auto_true"], m["auto_false"]) == (3, 2, 1)
    assert m["auto_precision"] == pytest.approx(2 / 3)
    assert m["auto_recall"] == pytest.approx(2 / 5)
    assert (m["review_queue"], m["review_true"]) == (3, 1)  # a-b counts as auto only
    assert m["review_precision"] == pytest.approx(1 / 3)
    assert m["combined_recall"] == pytest.approx(3 / 5)
    assert m["missed"] == 2 and m["meets_targets"] is False

    perfect = evaluate.evaluate(truth, set(), truth)
    assert perfect["auto_precision"] == perfect["combined_recall"] == 1.0
    assert perfect["meets_targets"] is True
    # 199 right and 1 wrong auto-link: precision 99.5% just meets the target
    big = {_p(f"t{i}", f"u{i}") for i in range(199)}
    edge = evaluate.evaluate(big | {_p("w", "v")}, set(), big)
    assert edge["auto_precision"] == pytest.approx(0.995) and edge["meets_targets"] is True
    none = evaluate.evaluate(set(), truth, truth)
    assert none["auto_precision"] is None and none["combined_recall"] == 1.0
    assert none["meets_targets"] is False
    with pytest.raises(ValueError):
        evaluate.evaluate({frozenset({"a"})}, set(), truth)


def test_cluster_pairs_and_recall_by_variant() -> None:
    assert evaluate.cluster_pairs([["a", "b", "c"], ["d"], ["e", "e"]]) == {
        _p("a", "b"),
        _p("a", "c"),
        _p("b", "c"),
    }
    ivs = [
        P.Interview("1", "p", "org-01", "김영철", "male", 1970, "ryanggang", 2005),
        P.Interview("2", "p", "org-02", "Kim Yeongcheol", "male", 1970, "ryanggang", 2005,
                    ("romanized:rr",)),
        P.Interview("3", "q", "org-01", "박순희", "female", 1980, "ryanggang", 2010),
        P.Interview("4", "q", "org-03", "박순희", "female", 1980, "ryanggang", 2010),
    ]  # fmt: skip
    truth = P.pairs_truth(ivs)
    assert truth == {_p("1", "2"), _p("3", "4")}
    by = evaluate.recall_by_variant({_p("3", "4")}, truth, ivs)
    assert by == {
        "none": {"pairs": 1, "recall": 1.0},
        "romanized:rr": {"pairs": 1, "recall": 0.0},
    }


def test_baseline_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate.main(["--size", "600", "--seed", "2", "--matcher", "baseline"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["matcher"].startswith("BASELINE")
    m = report["metrics"]
    assert m["true_pairs"] == report["population"]["true_pairs"] > 0
    assert 0 < m["auto_recall"] < 1 and m["review_queue"] == 0
    assert report["combined_recall_by_variant"]["none"]["recall"] == 1.0


# ------------------------------------------------------------------- the real matcher


def test_harness_runs_the_real_matcher_through_a_store() -> None:
    """bench/dedup/harness.py on a small population: the shipped weights keep auto-links
    precise, and a review item counts every pair that deciding it would link."""
    import harness

    from syncserver.respondents import default_weights

    pop = P.generate(1500, 0.10, 5)
    truth = P.pairs_truth(pop.interviews)
    out = harness.run(pop.interviews, default_weights())
    m = evaluate.evaluate(out.auto, set(out.review), truth)
    assert m["auto_links"] > 0.3 * len(truth) and m["auto_precision"] >= 0.99
    named = {
        p for p in truth
        if all(iv.respondent_name and "name_changed" not in iv.variants
               for iv in pop.interviews if iv.interview_id in p)
    }  # fmt: skip
    found = out.auto | set(out.review)
    assert len(named & found) >= 0.95 * len(named)
    assert out.compared > 0 and len(out.items) <= len(out.review)
    for pair, score, code in out.items:
        assert pair in out.review and out.review[pair] >= score and "/" in code


def test_sealsync_matcher_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate.main(["--size", "300", "--seed", "2", "--review", "-3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["matcher"].startswith("sealsync") and report["thresholds"]["review"] == -3
    assert report["metrics"]["true_pairs"] > 0 and "seconds" in report


def test_named_pairs_leave_out_pairs_without_the_same_name() -> None:
    ivs = [
        P.Interview("1", "p", "org-01", "김영철", "male", 1970, "ryanggang", 2005),
        P.Interview("2", "p", "org-02", "김영철", "male", 1970, "ryanggang", 2005),
        P.Interview("3", "q", "org-01", None, "female", 1980, "ryanggang", 2010,
                    ("name_missing",)),
        P.Interview("4", "q", "org-03", "박순희", "female", 1980, "ryanggang", 2010),
        P.Interview("5", "r", "org-01", "박순희", "female", 1981, "ryanggang", 2010),
        P.Interview("6", "r", "org-02", "박하늘", "female", 1981, "ryanggang", 2010,
                    ("name_changed",)),
    ]  # fmt: skip
    truth = P.pairs_truth(ivs)
    got = evaluate.named_pairs({_p("1", "2")}, {_p("3", "4")}, truth, ivs)
    assert got == {"pairs": 1, "auto_recall": 1.0, "combined_recall": 1.0}
    assert evaluate.named_pairs(set(), set(), truth, ivs)["combined_recall"] == 0.0
