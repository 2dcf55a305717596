"""Generate the identity normalisation test vectors in ``tests/vectors/identity/``.

The vectors let an implementation of normalisation v1 in any language
(docs/spec/identity-normalisation.md) check itself against this one. One JSON file per
case (UTF-8, two-space indent, trailing newline), each saying what must happen::

    name         the file's stem
    description  one sentence citing the spec section the case demonstrates
    function     normalize_name | normalize_province | fold_initial_sound | romanize
                 | skeleton | consonants
    input        the argument: a string (a JSON value that is not a string only in the
                 not_text cases, for languages whose functions can be given one)
    expect       "success" or "error"
    output       on success: for normalize_name every field of NormalizedName (§9); for
                 normalize_province {"code": ..., "compatible": [sorted codes]} (§10); for
                 the helpers the string they return
    error        on error: the stable IdentityInputError code (§11)

The outputs are computed by calling ``schemas.identity``; each case also states, by hand,
the property it demonstrates (a field, a region code, a helper's output, an error code),
and the generator refuses to run if the implementation disagrees, so that a regression
cannot silently regenerate wrong vectors. Nothing here uses a clock or randomness: run
twice, the generator writes byte-identical files. Every name is synthetic or one of the
spec's own examples.

Usage (from the repository root, with the package importable)::

    python tests/vectors/generate_identity_vectors.py            # write missing vectors
    python tests/vectors/generate_identity_vectors.py --check    # compare, write nothing
    python tests/vectors/generate_identity_vectors.py --force    # rewrite differing ones

A vector already on disk is never rewritten silently: if its content differs from what
the generator makes, the generator names the file and exits 1 without writing anything.
``--force`` is for a deliberate change, which for normalisation is a new version (§1).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from schemas.errors import IdentityInputError
from schemas.identity import (
    NORMALISATION_VERSION,
    consonants,
    fold_initial_sound,
    normalize_name,
    normalize_province,
    romanize,
    skeleton,
)

OUT_DIR = Path(__file__).resolve().parent / "identity"

#: The functions a vector may name, as the spec names them (§1).
FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "normalize_name": normalize_name,
    "normalize_province": normalize_province,
    "fold_initial_sound": fold_initial_sound,
    "romanize": romanize,
    "skeleton": skeleton,
    "consonants": consonants,
}


@dataclass(frozen=True)
class Error:
    """A hand-written claim that the call fails with this IdentityInputError code."""

    code: str


@dataclass(frozen=True)
class Case:
    """One vector: the call, and the property it demonstrates, written by hand.

    ``claim`` is an :class:`Error`; or, on success, for normalize_name a dict of some
    NormalizedName fields, for normalize_province the region code, for a helper its
    whole output.
    """

    name: str
    function: str
    text: Any
    description: str
    claim: Any


class ClaimFailed(Exception):
    """The implementation does not do what a case says it must."""


CASES: list[Case] = []


def _add(name: str, function: str, text: Any, description: str, claim: Any) -> None:
    CASES.append(Case(name, function, text, description, claim))


def name_ok(name: str, text: str, description: str, **fields: str | None) -> None:
    """normalize_name(text) succeeds, and these fields of the result are as given."""
    assert fields, name
    _add(f"name_{name}", "normalize_name", text, description, fields)


def name_error(name: str, text: Any, code: str, description: str) -> None:
    _add(f"name_{name}", "normalize_name", text, description, Error(code))


def province_ok(name: str, text: str, code: str, description: str) -> None:
    _add(f"province_{name}", "normalize_province", text, description, code)


def province_error(name: str, text: Any, code: str, description: str) -> None:
    _add(f"province_{name}", "normalize_province", text, description, Error(code))


def helper(function: str, prefix: str, name: str, text: str, out: str, description: str) -> None:
    _add(f"{prefix}_{name}", function, text, description, out)


def fold(name: str, text: str, out: str, description: str) -> None:
    helper("fold_initial_sound", "fold", name, text, out, description)


def rr(name: str, text: str, out: str, description: str) -> None:
    helper("romanize", "romanize", name, text, out, description)


def skel(name: str, text: str, out: str, description: str) -> None:
    helper("skeleton", "skeleton", name, text, out, description)


def halfwidth(compat_jamo: str) -> str:
    """Compatibility jamo as the half-width jamo of the same name (U+FFA0..U+FFDC)."""
    return "".join(unicodedata.lookup("HALFWIDTH " + unicodedata.name(c)) for c in compat_jamo)


YONGJOL = {"given_skeleton": "yongjol", "given_consonants": "ngjl"}
KIM_YONGCHOL = {"surname_folded": "김", "given_folded": "yongchol"}
KIM_YEONGCHEOL = {"surname_folded": "김", "given_folded": "영철", "given_jamo": "ㅇㅕㅇㅊㅓㄹ"}

# The cases. Formatting is off so that each reads as one entry of a table.
# fmt: off

# ---------------------------------------------------------------------------------------
# §12: every row of the example table


name_ok("spec_ri_yeongcheol", "리영철", "§12, §5: North Korean 리 folds to 이",
        surname_folded="이", given_folded="영철", given_skeleton="yongjol")
name_ok("spec_i_yeongcheol", "이영철", "§12, §5: South Korean 이 is already folded",
        surname_folded="이", given_folded="영철", given_skeleton="yongjol")
name_ok("spec_compat_jamo", "ㄱㅣㅁㅇㅕㅇㅊㅓㄹ",
        "§12, §3.2: compatibility jamo typed one by one are repaired to 김영철",
        **KIM_YEONGCHEOL, given_skeleton="yongjol")
name_ok("spec_kim_young_chul", "Kim Young-chul",
        "§12, §6.2: a hyphenated given name is one token and the surname is found in table 6.3",
        surname_folded="김", given_folded="youngchul", given_skeleton="yongjol")
name_ok("spec_capitals_first", "KIM Yongchol",
        "§12, §6.2 rule 1: the first token written in capitals is the surname",
        **KIM_YONGCHOL, given_skeleton="yongjol")
name_ok("spec_capitals_last", "Young Chul KIM",
        "§12, §6.2 rule 1: the last token written in capitals is the surname",
        surname_folded="김", given_folded="youngchul", given_skeleton="yongjol")
name_ok("spec_mccune_reischauer", "Kim Yŏng-ch'ŏl",
        "§12, §4: McCune-Reischauer breves and apostrophes are dropped before the skeleton",
        **KIM_YONGCHOL, given_skeleton="yongjol")
name_ok("spec_ro_myeongsu", "로명수", "§12, §5: initial ㄹ before ㅗ folds to ㄴ",
        surname_folded="노", given_folded="명수", given_skeleton="myongso")
name_ok("spec_rhee_ryon_hui", "Rhee Ryon-hui",
        "§12, §6.3, §8.1: Rhee is 이 and the skeleton drops the initial r of Ryon-hui",
        surname_folded="이", given_folded="ryonhui", given_skeleton="yonhi")
name_ok("spec_namgung_minsu", "남궁민수",
        "§12, §6.1 rule 3: an unspaced name starting with 남궁 has a two-syllable surname",
        surname_folded="남궁", given_folded="민수", given_skeleton="minso")
name_ok("spec_paek_sung_min", "Paek Sung-min", "§12, §6.3: Paek is 백, not 박",
        surname_folded="백", given_folded="sungmin", given_skeleton="songmin")

# ---------------------------------------------------------------------------------------
# §3.1 length, §3.2 Unicode and jamo repair

name_ok("length_100_with_invisibles", "김" + "\u200b" * 98 + "철",
        "§3.1: exactly 100 code points, counted before invisible characters are removed, "
        "are accepted", surname_folded="김", given_folded="철")
name_error("too_long", "김철" + "\u200b" * 99, "too_long",
           "§3.1, §11: 101 code points are too long even though 99 of them are invisible")
name_ok("nfkc_fullwidth_capitals", "ＫＩＭ Yongchol",
        "§3.2: NFKC turns full-width ＫＩＭ into ASCII capitals, so §6.2 rule 1 applies",
        **KIM_YONGCHOL)
name_ok("nfkc_ideographic_space", "김\u3000영철",
        "§3.2: NFKC turns the ideographic space into a space that separates tokens",
        **KIM_YEONGCHEOL)
name_ok("nfkc_halfwidth_jamo", halfwidth("ㄱㅣㅁㅇㅕㅇㅊㅓㄹ"),
        "§3.2: half-width jamo are normalised and repaired like compatibility jamo",
        **KIM_YEONGCHEOL)
name_ok("repair_compound_vowel_wa", "ㅎㅗㅏㅇㅇㅕㅇㅊㅓㄹ",
        "§3.2: ㅎㅗㅏㅇ is repaired to 황 (ㅗ+ㅏ=ㅘ, then ㅇ as the final)",
        surname_folded="황", given_folded="영철")
name_ok("repair_compound_vowel_oe", "ㅊㅗㅣㅁㅣㄴㅅㅜ",
        "§3.2: ㅊㅗㅣ is repaired to 최 (ㅗ+ㅣ=ㅚ)",
        surname_folded="최", given_folded="민수")
name_ok("repair_compound_vowel_ui", "김ㅎㅡㅣㅅㅜ",
        "§3.2: a stray ㅣ after 흐 makes the compound vowel ㅢ (희)",
        surname_folded="김", given_folded="희수", given_jamo="ㅎㅢㅅㅜ")
name_ok("repair_double_final", "김ㄷㅏㄹㄱ",
        "§3.2: ㄹ becomes the final of 다 and ㄱ then makes the double final ㄺ (닭)",
        surname_folded="김", given_folded="닭", given_jamo="ㄷㅏㄺ")
name_ok("repair_double_final_bs", "ㄱㅏㅂㅅ철수",
        "§3.2: ㅂ and then ㅅ typed after 가 make the double final ㅄ (값)",
        surname_folded="값", given_folded="철수")
name_error("stray_initials_alone", "ㄱㅇㅊ", "stray_jamo",
           "§3.2: initials typed alone have no syllable before them")
name_error("stray_jamo_after_space", "김 ㅇㅊ", "stray_jamo",
           "§3.2: a jamo after a space has no syllable right before it")
name_error("stray_vowel_after_final", "김ㅣ영철", "stray_jamo",
           "§3.2: a vowel after a syllable that has a final is not moved, it is rejected")
name_error("stray_vowel_no_compound", "고ㅓ민수", "stray_jamo",
           "§3.2: ㅗ+ㅓ is no compound vowel, so the stray ㅓ is rejected")
name_error("stray_tense_final", "김미ㄸ", "stray_jamo",
           "§3.2: ㄸ cannot be a final")
name_error("stray_no_double_final", "김ㄱ민수", "stray_jamo",
           "§3.2: ㅁ+ㄱ is no double final, so the stray ㄱ after 김 is rejected")
name_error("stray_archaic_consonant", "기ㅿ영철", "stray_jamo",
           "§3.2: the archaic consonant ㅿ is never repaired")
name_error("stray_archaic_vowel", "가ㆍ민수", "stray_jamo",
           "§3.2: the archaic vowel ㆍ (arae-a) is never repaired")
name_error("stray_ignorable_between_jamo", "김수ㅎ\u200bㅣ", "stray_jamo",
           "§3.2: invisible characters are removed after NFC, so ㅎ and ㅣ around a zero-width "
           "space never compose and the initial before a vowel jamo is stray")

# ---------------------------------------------------------------------------------------
# §3.3 ignorable characters

name_ok("ignorable_zero_width_space", "김영\u200b철",
        "§3.3: a zero-width space inside a name is removed", **KIM_YEONGCHEOL)
name_error("ignorable_does_not_separate", "Kim\u200bYongchol", "no_given_name",
           "§3.3, §6.2: a zero-width space is removed without trace, leaving one Latin token")
name_ok("ignorable_soft_hyphen", "Kim Young\u00adchul",
        "§3.3: a soft hyphen is removed", surname_folded="김", given_folded="youngchul")
name_ok("ignorable_bom_direction_marks_joiners", "\ufeff\u200e김\u200d영\u200c철\u200f",
        "§3.3: a byte order mark, direction marks and zero-width joiners are removed",
        **KIM_YEONGCHEOL)
name_ok("ignorable_variation_selectors", "김\ufe0f영\U000e0100철",
        "§3.3: variation selectors from both ranges are removed", **KIM_YEONGCHEOL)
name_ok("ignorable_hangul_fillers", "\u115f김\u1160영\u3164철\uffa0",
        "§3.3: the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0 are removed",
        **KIM_YEONGCHEOL)
name_error("empty_only_fillers", "\u3164\u3164", "empty",
           "§3.3, §4: a name made of Hangul fillers only has no letters")

# ---------------------------------------------------------------------------------------
# §4 characters and tokens

name_ok("latin_acute", "Kim Sé-ra", "§4: é is the Latin letter e with its mark dropped",
        surname_folded="김", given_folded="sera")
name_ok("latin_breves", "Kim Ŭnhŭi", "§4, §8: Ŭnhŭi is unhui, whose skeleton is onhi",
        surname_folded="김", given_folded="unhui", given_skeleton="onhi")
name_ok("latin_ae_sharp_s_oe", "Kim Mæßœ", "§4: æ, ß and œ are read as ae, ss and oe",
        surname_folded="김", given_folded="maessoe")
name_ok("latin_dotless_i_l_stroke_o_slash", "Kim Mıłø",
        "§4: ı, ł and ø are read as i, l and o", surname_folded="김", given_folded="milo")
name_ok("latin_d_stroke_eth_thorn", "Kim Đaðþa",
        "§4: Đ, ð and þ are read as d, d and th", surname_folded="김", given_folded="dadtha")
name_ok("latin_uncomposed_mark", "Kim Yom\u0306i",
        "§4: a combining mark that NFC cannot compose with its Latin letter is dropped",
        surname_folded="김", given_folded="yomi")
name_error("mark_after_hangul", "김\u0301영철", "not_letters",
           "§4: a combining mark that is not after a Latin letter makes the name unusable")
name_ok("joiner_en_dash", "Kim Young\u2013chul",
        "§4: an en dash (category Pd) joins, like a hyphen",
        surname_folded="김", given_folded="youngchul")
name_ok("joiner_right_quote", "Kim Ch\u2019ŏlsu",
        "§4: the apostrophe ’ is removed and the token goes on",
        surname_folded="김", given_folded="cholsu")
name_ok("joiner_modifier_apostrophes", "Kim Ch\u02bcŏl-ch\u02bbun",
        "§4: the modifier apostrophes ʼ and ʻ are removed and the token goes on",
        surname_folded="김", given_folded="cholchun")
name_ok("joiner_left_quote_grave_prime", "Kim P\u2018yŏng`ch\u2032ol",
        "§4: the apostrophes ‘, ` and ′ are removed and the token goes on",
        surname_folded="김", given_folded="pyongchol")
name_ok("joiner_full_stop", "Kim Yong.chol",
        "§4: a full stop is removed and the token goes on", **KIM_YONGCHOL)
name_error("joiner_makes_one_token", "Kim-Yongchol", "no_given_name",
           "§4, §6.2: a hyphen joins, so Kim-Yongchol is a single token")
name_ok("separator_comma", "Kim,Yongchol",
        "§4: a comma is a separator, unlike a hyphen", **KIM_YONGCHOL)
name_ok("separator_middle_dot", "김·영철",
        "§4, §6.1 rule 1: a middle dot separates, so 김 is a token of its own",
        **KIM_YEONGCHEOL)
name_ok("separator_quotes_brackets", '"Kim" (Yongchol)',
        "§4: quotes and brackets are separators", **KIM_YONGCHOL)
name_ok("separator_white_space_trimmed", "\tKim\nYongchol  ",
        "§4: tabs, newlines and trailing spaces are separators and are trimmed",
        **KIM_YONGCHOL)
name_ok("script_change_ends_token", "김Youngchul",
        "§4, §6.4 rule 2: a change of script ends a token, so 김 is the surname",
        script="mixed", surname_folded="김", given_folded="youngchul")
name_error("not_letters_digit", "Kim Yongchol 2", "not_letters",
           "§4: a digit makes the name unusable")
name_error("not_letters_hanja", "金永哲", "not_letters",
           "§4: Hanja are not Korean or Latin letters")
name_error("not_letters_cyrillic", "Ким Енчер", "not_letters",
           "§4: Cyrillic letters are not Latin letters")
name_error("not_letters_symbol", "Kim ♥ Yongchol", "not_letters",
           "§4: a symbol makes the name unusable")
name_error("empty", "", "empty", "§4, §11: the empty string has no tokens")
name_error("empty_punctuation", "  -- . ", "empty",
           "§4: spaces, hyphens and full stops alone leave no tokens")
name_error("not_text", None, "not_text",
           "§11: a name that is not text (JSON null here) is rejected")

# ---------------------------------------------------------------------------------------
# §5 the initial-sound fold

for rr_name, syllable, folded in [
    ("ri", "리", "이"), ("ryu", "류", "유"), ("rim", "림", "임"), ("ryang", "량", "양"),
    ("ryeol", "렬", "열"), ("ryeo", "려", "여"), ("ryong", "룡", "용"), ("rye", "례", "예"),
]:
    fold(f"rieul_iy_{rr_name}", syllable, folded,
         f"§5: initial ㄹ before a vowel in IY folds to ㅇ ({syllable}→{folded})")
for rr_name, syllable, folded in [
    ("ro", "로", "노"), ("ra", "라", "나"), ("rae", "래", "내"), ("roe", "뢰", "뇌"),
    ("ru", "루", "누"),
]:
    fold(f"rieul_other_{rr_name}", syllable, folded,
         f"§5: initial ㄹ before a vowel not in IY folds to ㄴ ({syllable}→{folded})")
for rr_name, syllable, folded in [
    ("nyeo", "녀", "여"), ("nyo", "뇨", "요"), ("nyu", "뉴", "유"), ("ni", "니", "이"),
    ("nya", "냐", "야"),
]:
    fold(f"nieun_iy_{rr_name}", syllable, folded,
         f"§5: initial ㄴ before a vowel in IY folds to ㅇ ({syllable}→{folded})")
for rr_name, syllable in [("no", "노"), ("na", "나"), ("i", "이")]:
    fold(f"unchanged_{rr_name}", syllable, syllable,
         f"§5: {syllable} has no initial to fold and stays as it is")
fold("first_syllable_only", "렬련", "열련",
     "§5: only the first syllable is folded")

name_ok("fold_surname_and_given", "리련희",
        "§5: the first syllables of both the surname and the given name are folded",
        surname_folded="이", given_folded="연희", given_jamo="ㅇㅕㄴㅎㅢ")
name_ok("fold_given_first_syllable", "김련희", "§5: 김련희 folds to 김/연희",
        surname_folded="김", given_folded="연희")
name_ok("fold_nieun_unchanged", "노명수", "§5: 노 is not folded, and meets 로명수",
        surname_folded="노", given_folded="명수")
name_ok("fold_not_later_syllables", "김철련",
        "§5: the fold does not touch the second syllable of a given name",
        surname_folded="김", given_folded="철련", given_jamo="ㅊㅓㄹㄹㅕㄴ")
name_ok("fold_idempotent", "이 연희",
        "§5, §9: normalising the folded output of 리련희 gives the same folded name",
        surname_folded="이", given_folded="연희", given_jamo="ㅇㅕㄴㅎㅢ", given_skeleton="yonhi")

# ---------------------------------------------------------------------------------------
# §6.1 Hangul

name_ok("hangul_space_surname_first", "김 영철",
        "§6.1 rule 1: a first token of one syllable is the surname", **KIM_YEONGCHEOL)
name_ok("hangul_surname_last", "영철 김",
        "§6.1 rule 2: a last token that is a surname of table 6.3 is the surname",
        **KIM_YEONGCHEOL)
name_ok("hangul_surname_last_folded", "영철 리",
        "§6.1 rule 2: the last token is looked up folded, so 리 is the surname 이",
        surname_folded="이", given_folded="영철")
name_ok("hangul_space_is_writers_word", "남 궁민",
        "§6.1 rule 1: a space is the writer's word, so 남 궁민 is 남/궁민",
        surname_folded="남", given_folded="궁민")
name_ok("hangul_two_syllable_surname_spaced", "남궁 민수",
        "§6.1 rule 1: a first token that is a two-syllable surname is the surname",
        surname_folded="남궁", given_folded="민수")
name_ok("hangul_seonu_ambiguous", "선우진",
        "§6.1 rule 3: an ambiguous 선우진 is read with the two-syllable surname 선우",
        surname_folded="선우", given_folded="진")
name_ok("hangul_seon_ujin_spaced", "선 우진",
        "§6.1 rule 1: written with a space, 선 우진 is 선/우진",
        surname_folded="선", given_folded="우진")
name_ok("hangul_hwangbo", "황보영철", "§6.1 rule 3: 황보 is a two-syllable surname",
        surname_folded="황보", given_folded="영철")
name_ok("hangul_two_syllables_only", "남궁",
        "§6.1 rule 3: a two-syllable surname needs three syllables, so 남궁 alone is 남/궁",
        surname_folded="남", given_folded="궁")
name_ok("hangul_no_rule_joins_tokens", "영철 민수",
        "§6.1 rule 3: when neither end is a surname the tokens are joined and split after "
        "the first syllable", surname_folded="영", given_folded="철민수")
name_ok("hangul_surname_not_in_table", "뢰영철",
        "§6.1, §6.3: a Hangul surname not in table 6.3 is kept, folded",
        surname_folded="뇌", surname_skeleton="nwe", given_folded="영철")
name_error("one_syllable", "김", "one_syllable",
           "§6.1 rule 3, §11: one syllable cannot be split")

# ---------------------------------------------------------------------------------------
# §6.2 Latin

name_ok("latin_spec_min_jun_lee", "Min Jun Lee",
        "§6.2 rule 2: Lee (rank 1) beats Min (rank 39)",
        surname_folded="이", given_folded="minjun")
name_ok("latin_spec_lee_min_ha", "Lee Min Ha",
        "§6.2 rule 2: Lee (rank 1) beats Ha (rank 31)",
        surname_folded="이", given_folded="minha")
name_ok("latin_spec_min_namgung", "Min Namgung",
        "§6.2 rule 2: a two-syllable surname other than 선우 comes first",
        surname_folded="남궁", given_folded="min")
name_ok("latin_spec_sunwoo_jin", "Sunwoo Jin",
        "§6.2 rule 2: 선우 keeps its rank, so Jin (rank 40) is the surname",
        surname_folded="진", given_folded="sunwoo")
name_ok("latin_spec_jin_sunwoo", "Jin Sunwoo",
        "§6.2 rule 2: Jin is the surname whichever end it is at",
        surname_folded="진", given_folded="sunwoo")
name_ok("latin_surname_last", "Young-chul Kim",
        "§6.2 rule 2: a last token in table 6.3 is the surname when the first is not",
        surname_folded="김", given_folded="youngchul")
name_ok("latin_capitals_beat_table", "Lee Minsu PARK",
        "§6.2 rule 1: the token in capitals is the surname before table 6.3 is consulted",
        surname_folded="박", given_folded="leeminsu")
name_ok("latin_capitals_in_middle", "Min KIM Su",
        "§6.2 rule 1: a token in capitals in the middle does not count, so rule 2 picks Min",
        surname_folded="민", given_folded="kimsu")
name_ok("latin_all_capitals", "KIM YONG CHOL",
        "§6.2 rule 1: when every token is in capitals rule 2 decides",
        **KIM_YONGCHOL)
name_ok("latin_tie_first_token", "Yu Jin Yoo",
        "§6.2 rule 2: two spellings of the same surname tie, and the first token wins",
        surname_folded="유", given_folded="jinyoo")
name_ok("latin_given_tokens_joined", "Kim Young Chul",
        "§6.2: the given name's tokens are joined without spaces",
        surname_folded="김", given_folded="youngchul", **YONGJOL)
name_ok("latin_surname_not_in_table", "Zorbal Minho",
        "§6.2 rule 3, §6.3: with no surname in the table the first token is the surname, "
        "with no Hangul form", surname_folded=None, surname_skeleton="jolpal",
        given_folded="minho")
name_ok("latin_capitals_not_in_table", "Minho ZORBAL",
        "§6.2 rule 1: a surname in capitals need not be in table 6.3",
        surname_folded=None, surname_skeleton="jolpal", given_folded="minho")
name_error("no_given_name", "Kimyongchol", "no_given_name",
           "§6.2, §11: a single Latin token cannot be split safely")

# ---------------------------------------------------------------------------------------
# §6.3 a sample of the surname variant table

for spelling, hangul, why in [
    ("Gim", "김", "Gim is 김, like Kim"),
    ("Yi", "이", "Yi is 이"),
    ("Ri", "이", "Ri is 이"),
    ("Park", "박", "Park is 박, unlike Paek"),
    ("Pak", "박", "Pak is 박"),
    ("Bak", "박", "Bak is 박"),
    ("Choi", "최", "Choi is 최"),
    ("Choe", "최", "Choe is 최"),
    ("Chun", "전", "chun belongs to the commoner 전, not 천"),
]:
    name_ok(f"variant_{spelling.lower()}", f"{spelling} Sung-min", f"§6.3: {why}",
            surname_folded=hangul, given_folded="sungmin")

# ---------------------------------------------------------------------------------------
# §6.4 mixed scripts

name_ok("mixed_hangul_with_rendering", "김영철 (Kim Young-chul)",
        "§6.4 rule 1: three Hangul syllables are the name and the Latin rendering is ignored",
        script="mixed", **KIM_YEONGCHEOL)
name_ok("mixed_two_hangul_tokens", "Kim Young-chul 김 영철",
        "§6.4 rule 1: two Hangul tokens are the name and the Latin tokens are ignored",
        script="mixed", **KIM_YEONGCHEOL)
name_ok("mixed_hangul_surname_first", "김 Young-chul",
        "§6.4 rule 2: a first Hangul token that is a surname is the surname",
        script="mixed", surname_folded="김", given_folded="youngchul", given_jamo="")
name_ok("mixed_hangul_surname_last", "Young-chul 김",
        "§6.4 rule 2: a last Hangul token that is a surname is the surname",
        script="mixed", surname_folded="김", given_folded="youngchul")
name_ok("mixed_hangul_surname_folded", "리 Yongchol",
        "§6.4 rule 2: the Hangul token is looked up folded, so 리 is the surname 이",
        script="mixed", surname_folded="이", given_folded="yongchol")
name_ok("mixed_hangul_two_syllable_surname", "남궁 Minsu",
        "§6.4 rule 2: a two-syllable Hangul surname with a Latin given name",
        script="mixed", surname_folded="남궁", given_folded="minsu")
name_ok("mixed_latin_surname_first", "Kim 영철",
        "§6.4 rule 3: a first Latin token in table 6.3 is the surname of a Hangul given name",
        script="mixed", **KIM_YEONGCHEOL)
name_ok("mixed_latin_surname_last", "영철 Kim",
        "§6.4 rule 3: a last Latin token in table 6.3 is the surname of a Hangul given name",
        script="mixed", **KIM_YEONGCHEOL)
name_ok("mixed_two_syllables_alone", "민수 Zorbal",
        "§6.4 rule 4: two Hangul syllables alone are the name when no other rule applies",
        script="mixed", surname_folded="민", given_folded="수")
name_error("mixed_script", "Zorbal 영", "mixed_script",
           "§6.4 rule 5, §11: one Hangul syllable that is no surname and a Latin token that "
           "is not in table 6.3 cannot be read")
name_error("mixed_script_surname_in_middle", "Young 김 Chul", "mixed_script",
           "§6.4 rule 5: a Hangul surname between two Latin tokens cannot be read")

# ---------------------------------------------------------------------------------------
# §7 romanization

rr("spec_yeongcheol", "영철", "yeongcheol", "§7: 영철 is yeongcheol")
rr("spec_yeonhui", "연희", "yeonhui", "§7: 연희 is yeonhui")
rr("spec_choe", "최", "choe", "§7: 최 is choe")
rr("no_fold", "련희", "ryeonhui", "§7, §5: romanize does not fold, so 련희 is ryeonhui")
rr("initials", "가까나다따라마바빠사싸아자짜차카타파하",
   "gakkanadattaramabappasassaajajjachakatapaha",
   "§7: every initial consonant, before ㅏ")
rr("vowels", "아애야얘어에여예오와왜외요우워웨위유으의이",
   "aaeyayaeeoeyeoyeowawaeoeyouwowewiyueuuii", "§7: every vowel, after ㅇ")
rr("finals", "각간갇갈감갑갓강갖갗갘같갚갛", "gakgangatgalgamgapgatganggatgatgakgatgapgat",
   "§7: every single final, after 가")
rr("double_finals", "갃갅갆갉갊갋갌갍갎갏값", "gakgangangakgamgalgalgalgapgalgap",
   "§7: every double final, after 가")
rr("no_sound_change", "신라", "sinra", "§7: no sound changes, so 신라 is sinra, not silla")
rr("rieul_after_rieul", "설로", "seollo", "§7: an initial ㄹ after a final ㄹ is written l")

# ---------------------------------------------------------------------------------------
# §8 the romanization skeleton

for text in ["Yongchol", "Young-chul", "Yeong Cheol", "yeongcheol", "Yong-ch'ol"]:
    skel(re.sub(r"[^a-z]+", "_", text.lower()), text, "yongjol",
         f"§8: {text} gives the skeleton yongjol")
for text in ["Chinnyol", "Jinryeol", "Jillyeol"]:
    skel(text.lower(), text, "jilyol",
         f"§8.3 rule 2: n or l after n or l merge into one l, so {text} is jilyol")
for text in ["Chongnyol", "Jeongryeol"]:
    skel(text.lower(), text, "jongnyol",
         f"§8.3 rule 2: an l after another consonant is n, so {text} is jongnyol")
skel("eun_hee", "Eun-hee", "onhi", "§8: Eun-hee gives onhi")
skel("unhui", "Unhui", "onhi", "§8: Unhui (MR Ŭnhŭi after §4) gives onhi")
skel("silent_h_ahn", "Ahn", "an", "§8.3 rule 1: the h of Ahn is silent")
skel("silent_h_oh", "Oh", "o", "§8.3 rule 1: the h of Oh is silent")
skel("silent_h_bahk", "Bahk", "pak", "§8.3 rule 1: the h of Bahk is silent")
skel("runs_pakgi", "Pakgi", "paki", "§8.3 rule 3: runs of one class are one")
skel("initial_ri", "Ri", "i", "§8.1: an initial r before i is dropped")
skel("initial_lee", "Lee", "i", "§8.1: an initial l before ee is dropped")
skel("initial_ryonhui", "Ryonhui", "yonhi", "§8.1: an initial r before y is dropped")
skel("initial_roh", "Roh", "no", "§8.1: an initial r before o becomes n")
helper("consonants", "consonants", "yongchol", "Yongchol", "ngjl",
       "§8.3: the consonant classes of Yongchol are ngjl")
helper("consonants", "consonants", "eun_hee", "Eun-hee", "nh",
       "§8.3: the consonant classes of Eun-hee are nh")
name_ok("skeleton_hangul_eunhui", "김은희", "§8: the RR of 은희 gives the skeleton onhi",
        surname_folded="김", given_folded="은희", given_skeleton="onhi",
        given_consonants="nh")
name_ok("skeleton_eun_hee", "Kim Eun-hee", "§8: Eun-hee gives the skeleton onhi, as 은희 does",
        surname_folded="김", given_folded="eunhee", given_skeleton="onhi")

# ---------------------------------------------------------------------------------------
# §10 provinces

for code in ["north_hamgyong", "south_hamgyong", "ryanggang", "chagang", "north_pyongan",
             "south_pyongan", "north_hwanghae", "south_hwanghae", "kangwon", "pyongyang",
             "rason", "nampo", "kaesong", "sinuiju_sar", "other_unknown"]:
    province_ok(f"choice_{code}", code, code, f"§10.3 step 1: the choice value {code}")
province_ok("choice_padded", "  north_hamgyong  ", "north_hamgyong",
            "§10.3 step 1: a choice value is read after surrounding white space is stripped")
province_ok("korean_hamgyong_bukdo", "함경북도", "north_hamgyong",
            "§10.3 step 2: the Korean name 함경북도")
province_ok("korean_ryanggang_north", "량강도", "ryanggang",
            "§10.3 step 2: North Korean spelling 량강도")
province_ok("korean_yanggang_south", "양강도", "ryanggang",
            "§10.3 step 2, §5: South Korean spelling 양강도 folds like 량강도")
province_ok("korean_rason_north", "라선시", "rason",
            "§10.3 step 2: North Korean spelling 라선시, suffix 시 removed")
province_ok("korean_rason_south", "나선시", "rason",
            "§10.3 step 2, §5: South Korean spelling 나선시 folds like 라선시")
province_ok("korean_directly_governed", "평양직할시", "pyongyang",
            "§10.3 step 2: the suffix 직할시 is removed")
province_ok("korean_city_chongjin", "청진", "north_hamgyong",
            "§10.1: the city 청진 is in North Hamgyong")
province_error("korean_two_names_joined", "함경북도 청진시", "unknown_province",
               "§10.3 step 2: all Hangul syllables are joined and only one trailing suffix "
               "is removed, so a province followed by a city is not recognised")
province_ok("english_north_hamgyong", "North Hamgyong", "north_hamgyong",
            "§10.3 step 3: the English name")
province_ok("romanized_bukto", "Hamgyong-bukto", "north_hamgyong",
            "§10.3 step 3: the direction written as the suffix bukto")
province_ok("romanized_mr_pukto", "Hamgyŏng-pukto", "north_hamgyong",
            "§10.3 step 3: McCune-Reischauer with a breve and the suffix pukto")
province_ok("romanized_rr_buk_do", "Hamgyeongbuk-do", "north_hamgyong",
            "§10.3 step 3: Revised Romanization, the word do dropped")
province_ok("abbreviated_n", "N. Hamgyong", "north_hamgyong",
            "§10.3 step 3: the direction abbreviated to N.")
province_ok("southern_hwanghae", "Southern Hwanghae", "south_hwanghae",
            "§10.3 step 3: the direction written as southern")
province_ok("pyongyang_directly_governed", "Pyongyang Directly Governed City", "pyongyang",
            "§10.3 step 3: the words directly, governed and city are dropped")
province_ok("latin_city_hyesan", "Hyesan", "ryanggang",
            "§10.1: the city Hyesan is in Ryanggang")
province_ok("sinuiju_city", "Sinuiju", "north_pyongan",
            "§10.1: Sinuiju alone is the city, capital of North Pyongan")
province_ok("sinuiju_sar", "Sinuiju SAR", "sinuiju_sar",
            "§10.3 step 3: Sinuiju with the word SAR is the special region")
province_ok("sinuiju_special_region", "Sinuiju Special Administrative Region", "sinuiju_sar",
            "§10.3 step 3: Sinuiju with the words special, administrative and region")
province_ok("other_dont_know", "Other / don't know", "other_unknown",
            "§10.3 step 3, §10.2: the English label of other_unknown, with no compatible region")
province_error("ambiguous_korean", "함경", "ambiguous_province",
               "§10.3 step 2, §11: 함경 alone names a province split long ago")
province_error("ambiguous_latin", "Pyongan", "ambiguous_province",
               "§10.3 step 3: Pyongan without a direction is ambiguous")
province_error("unknown_latin", "Seoul", "unknown_province",
               "§10.3 step 4, §11: a place outside the crosswalk is not recognised")
province_error("unknown_korean", "서울", "unknown_province",
               "§10.3 step 4: a Korean name outside the crosswalk is not recognised")
province_error("too_long", "North Hamgyong " * 7, "too_long",
               "§10.3 step 1, §11: more than 100 code points")
province_error("not_text", 42, "not_text",
               "§11: a province that is not text (a JSON number here) is rejected")

# fmt: on

# ---------------------------------------------------------------------------------------
# Evaluation and output


def evaluate(case: Case) -> dict[str, Any]:
    """Call the implementation: ``{"expect": ..., "output" | "error": ...}``."""
    try:
        result = FUNCTIONS[case.function](case.text)
    except IdentityInputError as e:
        return {"expect": "error", "error": e.code}
    output: Any
    if case.function == "normalize_name":
        fields = msgspec.to_builtins(result)
        output = {k: fields[k] for k in sorted(fields)}
    elif case.function == "normalize_province":
        output = {"code": result.code, "compatible": sorted(result.compatible)}
    else:
        output = result
    return {"expect": "success", "output": output}


def verify(case: Case, got: dict[str, Any]) -> None:
    """Raise :class:`ClaimFailed` unless ``got`` shows what ``case.claim`` says."""
    claim = case.claim
    if isinstance(claim, Error):
        ok = got == {"expect": "error", "error": claim.code}
    elif got["expect"] != "success":
        ok = False
    elif case.function == "normalize_name":
        out = got["output"]
        ok = out["version"] == NORMALISATION_VERSION and all(out[k] == v for k, v in claim.items())
    elif case.function == "normalize_province":
        ok = got["output"]["code"] == claim
    else:
        ok = got["output"] == claim
    if not ok:
        raise ClaimFailed(
            f"{case.name}: the generator claims {claim!r}, the implementation gives {got!r}"
        )


def _check_cases() -> None:
    seen: set[str] = set()
    for c in CASES:
        assert re.fullmatch(r"[a-z0-9_]+", c.name), c.name
        assert c.name not in seen, f"duplicate case {c.name}"
        seen.add(c.name)
        assert c.function in FUNCTIONS, c.name
        assert c.description.startswith("§") and "\n" not in c.description, c.name


_check_cases()
BY_NAME = {c.name: c for c in CASES}


def render(case: Case) -> bytes:
    """The file for ``case``: verified against its claim, then serialised."""
    got = evaluate(case)
    verify(case, got)
    doc = {
        "name": case.name,
        "description": case.description,
        "function": case.function,
        "input": case.text,
        **got,
    }
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def check_vectors(out: Path) -> list[str]:
    """Differences between ``out`` and what the generator makes (empty when in sync)."""
    on_disk = {p.stem for p in out.glob("*.json")}
    problems = [f"stale file {out / n}.json" for n in sorted(on_disk - set(BY_NAME))]
    for case in CASES:
        path = out / f"{case.name}.json"
        if not path.exists():
            problems.append(f"missing {path}")
        elif path.read_bytes() != render(case):
            problems.append(f"differs {path}")
    return problems


def write_vectors(out: Path, *, force: bool = False) -> tuple[list[str], list[Path]]:
    """Write missing vectors (and differing ones with ``force``).

    Returns (names written, files that differ and were left alone). Without ``force``
    nothing at all is written when some file differs.
    """
    rendered = {case.name: render(case) for case in CASES}
    differing = [
        out / f"{name}.json"
        for name, data in rendered.items()
        if (out / f"{name}.json").exists() and (out / f"{name}.json").read_bytes() != data
    ]
    if differing and not force:
        return [], differing
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in rendered.items():
        path = out / f"{name}.json"
        if not path.exists() or path in differing:
            path.write_bytes(data)
            written.append(name)
    return written, []


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT_DIR, help="directory (default: %(default)s)")
    p.add_argument(
        "--force",
        action="store_true",
        help="rewrite vectors that differ; only for a deliberate new normalisation version",
    )
    p.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    args = p.parse_args(argv)
    try:
        if args.check:
            problems = check_vectors(args.out)
            for line in problems:
                print(line, file=sys.stderr)
            return 1 if problems else 0
        written, differing = write_vectors(args.out, force=args.force)
    except ClaimFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for path in differing:
        print(
            f"error: refusing to overwrite {path}: its content differs from what the "
            "generator makes (vectors are never rewritten silently; use --force only for "
            "a deliberate change, i.e. a new normalisation version)",
            file=sys.stderr,
        )
    if differing:
        return 1
    stale = sorted({p.stem for p in args.out.glob("*.json")} - set(BY_NAME))
    for name in stale:
        print(f"warning: {args.out / name}.json is not made by any case", file=sys.stderr)
    print(f"wrote {len(written)} of {len(CASES)} vectors to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
