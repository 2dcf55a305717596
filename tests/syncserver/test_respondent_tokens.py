"""Keyed pseudonyms and comparison levels (docs/spec/respondent-matching.md §3-§5, §7).

Every name here is synthetic. Each normalisation rule of docs/spec/identity-normalisation.md
is checked at the level the matcher sees it: which comparison level two interviews reach
through their tokens alone."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from schemas.identity import to_jamo
from syncserver.respondents import (
    Comparison,
    IdentityAnswers,
    Probe,
    PseudonymKey,
    StoredTokens,
    compare,
    default_weights,
    identity_answers,
    identity_roles,
    match_weight,
    stored_tokens,
)
from syncserver.respondents._pseudonyms import TOKEN_BYTES, letters_variants

KEY = PseudonymKey(hashlib.sha256(b"test key").digest())
OTHER_KEY = PseudonymKey(hashlib.sha256(b"another project").digest())
RID = uuid.UUID(int=1)


def who(
    name: str | None = "리영철",
    sex: str | None = "male",
    born: int | None = 1980,
    province: str | None = "north_hamgyong",
    left: int | None = 2008,
) -> IdentityAnswers:
    return IdentityAnswers(name, sex, born, province, left)


def level(a: IdentityAnswers, b: IdentityAnswers) -> Comparison:
    """How a new interview ``a`` compares with a stored interview ``b``."""
    return compare(Probe.build(KEY, RID, a), stored_tokens(KEY, b)[0])


# -- tokens --------------------------------------------------------------------------------


def test_tokens_are_keyed_deterministic_and_separated_by_field() -> None:
    t1, p1 = stored_tokens(KEY, who())
    t2, p2 = stored_tokens(KEY, who())
    other, _ = stored_tokens(OTHER_KEY, who())
    assert (t1, p1) == (t2, p2)
    fields = [f for f in StoredTokens.__struct_fields__ if getattr(t1, f) is not None]
    assert len(fields) == 7
    for f in fields:
        assert len(getattr(t1, f)) == TOKEN_BYTES
        assert getattr(t1, f) != getattr(other, f)  # another project's key: unrelated tokens
    values = [getattr(t1, f) for f in fields]
    assert len(set(values)) == len(values)  # each field under its own label
    assert len(set(p1)) == len(p1) == 6


def test_the_same_value_under_two_fields_gives_two_tokens() -> None:
    # "김" as a surname and a name whose folded form is "김": the labels keep them apart
    assert KEY.field("name.surname")("김") != KEY.field("name.folded")("김")
    # parts are joined with U+001F, which no normalised value holds: refused, not ambiguous
    with pytest.raises(ValueError):
        KEY.field("demo")("a\x1fb")


def test_nothing_plain_in_reprs() -> None:
    answers = who("합성이름")
    probe = Probe.build(KEY, RID, answers)
    for text in (repr(answers), repr(probe), repr(KEY)):
        assert "합성" not in text and "1980" not in text and "north" not in text
    assert repr(answers) == (
        "IdentityAnswers(name, sex, birth_year, province_of_origin, departure_year)"
    )


def test_nothing_to_match_on_gives_empty_tokens() -> None:
    tokens, postings = stored_tokens(KEY, IdentityAnswers())
    assert tokens == StoredTokens() and postings == ()
    # a name normalisation refuses counts as no name (identity-normalisation.md §11)
    tokens, _ = stored_tokens(KEY, who(name="1234"))
    assert not tokens.named and tokens.demo is not None


def test_identity_answers_come_from_the_form_roles() -> None:
    from schemas.forms import shipped_form

    roles = identity_roles(shipped_form("escapee-interview"))
    assert roles == {
        "name": "respondent_name",
        "sex": "sex",
        "birth_year": "birth_year",
        "province_of_origin": "province_of_origin",
        "departure_year": "departure_year",
    }
    answers = {"respondent_name": "  ", "sex": "female", "birth_year": True, "departure_year": 2009}
    got = identity_answers(roles, answers)
    assert got == IdentityAnswers(sex="female", departure_year=2009)  # blank and bool: missing


# -- name levels (identity-normalisation.md rules, seen through tokens) --------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("리영철", "리영철", "exact"),
        ("김 영철", "김영철", "exact"),  # white space and case are not differences
        ("KIM Yongchol", "kim yongchol", "exact"),
        ("리영철", "이영철", "folded"),  # §5: North and South spelling
        ("로명수", "노명수", "folded"),
        ("김련희", "김연희", "folded"),  # §5: the given name's first syllable too
        ("ㄱㅣㅁㅇㅕㅇㅊㅓㄹ", "김영철", "folded"),  # §3.2: jamo repaired
        ("ＫＩＭ Ｙｏｎｇｃｈｏｌ", "KIM Yongchol", "exact"),  # §3.2: NFKC
        ("남궁민수", "남궁 민수", "exact"),
        ("선우진", "선 우진", "exact"),  # §6.1: the ambiguous split, one folded string
        ("Kim Young-chul", "김영철", "skeleton"),  # §6.3 table + §8 skeleton across scripts
        ("Young Chul KIM", "김영철", "skeleton"),  # §6.2: capitals mark the surname
        ("Rhee Ryon-hui", "이연희", "skeleton"),
        ("Yi Yŏng-ch'ŏl", "리영철", "skeleton"),  # McCune-Reischauer with marks
        ("Kim Yongchol", "Kim Young-chul", "skeleton"),  # two romanizations
        # Hangul against Hangul never meets at the skeleton level, which merges ㅓ and ㅗ
        # (영선 and 용선 are two names): one jamo apart, it is a typo at most
        ("김영철", "김영촐", "typo"),
        ("김룡선", "김영선", "typo"),
        ("김영철", "김영칠", "typo"),  # §5.1 of the matching spec: one jamo substituted
        ("김영철", "김영처", "typo"),  # a final dropped
        ("김정영", "깆멍영", "typo"),  # two keystrokes swapped across a syllable boundary
        ("Park Sungmin", "Park Sungmim", "typo"),
        ("김영철", "김하늘", "surname"),  # a new given name after arrival
        ("박영철", "최영철", "given"),
        ("박영철", "최하늘", "different"),
    ],
)
def test_name_levels(a: str, b: str, expected: str) -> None:
    assert level(who(a), who(b)).name == expected
    assert level(who(b), who(a)).name == expected  # symmetric, whichever arrives first


def test_missing_name_on_either_side() -> None:
    assert level(who(None), who()).name == "missing"
    assert level(who(), who(None)).name == "missing"


# -- demographic levels --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("b", "expected"),
    [
        (who(), "exact/0/0/same"),
        (who(born=1981), "exact/1/0/same"),
        (who(born=1978), "exact/2/0/same"),
        (who(born=1977), "exact/far"),  # three years apart: beyond the neighbourhood
        (who(left=2009), "exact/0/1/same"),
        (who(left=2011), "exact/far"),
        (who(province="rason"), "exact/0/0/compatible"),  # §10.2 of the normalisation spec
        (who(province="라선시"), "exact/0/0/compatible"),  # free text through the crosswalk
        (who(province="other_unknown"), "exact/0/0/unknown"),
        (who(province="south_hwanghae"), "exact/far"),
        (who(sex="female"), "exact/far"),  # a different sex is never near
        (who(born=None), "exact/missing"),
    ],
)
def test_demographic_levels(b: IdentityAnswers, expected: str) -> None:
    assert level(who(), b).code == expected


def test_unknown_province_on_the_probe_side_meets_every_region() -> None:
    probe = who(province="other_unknown")
    assert level(probe, who(province="kaesong")).code == "exact/0/0/unknown"
    assert level(probe, who(province="other_unknown")).code == "exact/0/0/unknown"


def test_comparison_codes_round_trip() -> None:
    for code in ("exact/0/0/same", "typo/2/1/compatible", "surname/far", "missing/missing"):
        assert Comparison.parse(code).code == code
    for bad in ("", "exact", "nope/far", "exact/3/0/same", "exact/0/0/north", "exact/a/0/same"):
        with pytest.raises(ValueError):
            Comparison.parse(bad)


# -- one-edit variants ---------------------------------------------------------------------


def test_hangul_variants_are_one_edit_and_form_syllables() -> None:
    letters = "h" + to_jamo("김영철")
    vs = letters_variants(letters)
    assert letters not in vs
    assert "h" + to_jamo("김영촐") in vs  # substitution
    assert "h" + to_jamo("김영처") in vs  # deletion of a final
    assert "h" + to_jamo("기명철") in vs  # deletion of ㅇ: the ㅁ starts the next syllable
    assert "hㄱㅣㅇㅁㅕㅇㅊㅓㄹ" in vs  # transposition of ㅁ and ㅇ
    assert "h" + to_jamo("김영철") in letters_variants("h" + to_jamo("김영처"))  # insertion
    assert all(v.startswith("h") for v in vs)
    assert "hㅣ" + to_jamo("김영철")[1:] not in vs  # a vowel cannot start a syllable
    assert "h" + to_jamo("김영철").replace("ㅕ", "ㅕㅕ") not in vs  # nor follow a vowel
    assert 150 < len(vs) < 600


def test_latin_variants() -> None:
    vs = letters_variants("lkimyongjol")
    assert {"lkimyonjol", "lkimyongjl", "lkimyogjol", "lkimyongjoll", "likmyongjol"} <= vs
    assert "lkimyongjol" not in vs and all(v.startswith("l") for v in vs)


# -- weights -------------------------------------------------------------------------------


def test_common_values_weigh_less_than_rare_ones() -> None:
    w = default_weights()
    c = Comparison("exact", "near", (0, 0, "same"))
    rare = match_weight(c, w, n=20_000, folded_count=0, demo_count=1)
    common = match_weight(c, w, n=20_000, folded_count=40, demo_count=1)
    assert rare - common > 3
    lee = match_weight(Comparison("surname", "far"), w, surname_share=w.share_of("이"))
    rare_surname = match_weight(Comparison("surname", "far"), w, surname_share=w.share_of("독고"))
    assert rare_surname - lee > 4
    # the demographic adjustment is bounded either way
    plain = match_weight(c, w, n=20_000, folded_count=0)
    crowded = match_weight(c, w, n=20_000, folded_count=0, demo_count=10_000)
    assert crowded == pytest.approx(plain - w.tf.demo_clamp)
    assert 0 < rare - plain <= w.tf.demo_clamp


def test_a_small_store_does_not_make_every_name_rare() -> None:
    w = default_weights()
    c = Comparison("folded", "near", (0, 0, "same"))
    tiny = match_weight(c, w, n=10, folded_count=1, demo_count=1)
    big = match_weight(c, w, n=100_000, folded_count=1, demo_count=1)
    assert tiny < big  # shrunk towards the average frequency, not 1 in 10
