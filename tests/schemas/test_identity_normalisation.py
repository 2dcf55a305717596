"""Identity normalisation v1, schemas.identity (docs/spec/identity-normalisation.md).

Every name here is synthetic: common surname and given-name syllables put together, as
in schemas.survey.synth. None is, or is meant to be, a real person's name.
"""

from __future__ import annotations

import pathlib
import pickle
import re
import unicodedata

import jamo  # types the letters of a name one by one, as a keyboard would
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from rapidfuzz.distance import JaroWinkler

from schemas.errors import IdentityInputError, SchemaError
from schemas.forms import shipped_form
from schemas.identity import (
    NORMALISATION_VERSION,
    REGIONS,
    NormalizedName,
    consonants,
    fold_initial_sound,
    normalize_name,
    normalize_province,
    romanize,
    skeleton,
    to_jamo,
)
from schemas.identity._surnames import SURNAMES

SPEC = pathlib.Path(__file__).resolve().parents[2] / "docs/spec/identity-normalisation.md"


def n(text: str) -> NormalizedName:
    return normalize_name(text)


# --- pairs that MUST fold equal ---------------------------------------------------------

#: Equal after folding: same surname_folded, given_folded, given_jamo, given_skeleton.
FOLD_EQUAL = [
    # §5, the initial sound, North and South spelling, surname and given name
    ("리영철", "이영철"),
    ("로명수", "노명수"),
    ("림순옥", "임순옥"),
    ("류성혁", "유성혁"),
    ("량금희", "양금희"),
    ("라미경", "나미경"),
    ("김련희", "김연희"),
    ("박렬", "박열"),
    ("최녀순", "최여순"),
    ("정룡수", "정용수"),
    ("리룡남", "이용남"),
    ("김로수", "김노수"),
    ("한래경", "한내경"),
    ("오례순", "오예순"),
    ("이녕철", "이영철"),
    ("김니나", "김이나"),
    ("려명호", "여명호"),
    ("렴순희", "염순희"),
    # §3.2, stray compatibility jamo repaired
    ("ㄱㅣㅁㅇㅕㅇㅊㅓㄹ", "김영철"),
    ("기ㅁ영철", "김영철"),
    ("김ㅇㅕㅇ철", "김영철"),
    ("ㅎㅗㅏㅇㅈㅣㄴㅈㅜ", "황진주"),
    ("ㅊㅗㅣ은희", "최은희"),
    ("박ㅅㅜㄴㅇㅗㄱ", "박순옥"),
    ("ㄹㅣㅇㅕㅇㅊㅓㄹ", "이영철"),
    (unicodedata.normalize("NFD", "김영철"), "김영철"),
    ("\uffa1\uffdc\uffb1 영철", "김영철"),  # half-width jamo ㄱ ㅣ ㅁ
    # §3.3, §4: width, spaces, punctuation, invisible characters
    ("김　영철", "김영철"),
    ("  김영철. ", "김영철"),
    ("(김영철)", "김영철"),
    ("김-영철", "김영철"),
    ("김·영철", "김영철"),
    ("김\u200b영철", "김영철"),
    ("김ㅤ영철", "김영철"),
    ("김 영 철", "김영철"),
    # §6.1, two-syllable surnames, with and without a space
    ("남궁민수", "남궁 민수"),
    ("황보영철", "황보 영철"),
    ("제갈성호", "제갈 성호"),
    ("독고순희", "독고 순희"),
    ("사공명숙", "사공 명숙"),
    ("선우진", "선우 진"),
    ("영철 김", "김영철"),
    # §6.2, Latin: order, capitals, hyphens, spaces, width, MR marks
    ("Kim Young-chul", "KIM Young Chul"),
    ("Kim Young-chul", "Young-chul KIM"),
    ("Kim Young-chul", "kim youngchul"),
    ("Kim Young-chul", "Kim, Young-chul"),
    ("Kim Young-chul", "Gim Young Chul"),
    ("Kim Young-chul", "ＫＩＭ　Ｙｏｕｎｇ－ｃｈｕｌ"),
    ("Kim Yong-chol", "Kim Yŏng-ch'ŏl"),
    ("Lee Min-jun", "Min Jun Lee"),
    ("Park Sung-min", "PARK Sung Min"),
    # §6.4, mixed scripts
    ("김 Young-chul", "Kim Young-chul"),
    ("Kim 영철", "김영철"),
    ("김영철 (Kim Young-chul)", "김영철"),
]


@pytest.mark.parametrize(("a", "b"), FOLD_EQUAL)
def test_fold_equal(a: str, b: str) -> None:
    x, y = n(a), n(b)
    assert (x.surname_folded, x.given_folded) == (y.surname_folded, y.given_folded)
    assert (x.given_jamo, x.given_skeleton, x.given_consonants) == (
        y.given_jamo,
        y.given_skeleton,
        y.given_consonants,
    )
    assert x.surname_skeleton == y.surname_skeleton


#: Equal through the variant table and the skeleton: a romanization and the Hangul.
SKELETON_EQUAL = [
    ("Kim Young-chul", "김영철"),
    ("KIM Yongchol", "김영철"),
    ("Young Chul KIM", "김영철"),
    ("Kim Yeong Cheol", "김영철"),
    ("Kim Yŏng-ch'ŏl", "김영철"),
    ("Lee Myung-soo", "리명수"),
    ("Ri Myong Su", "이명수"),
    ("Rhee Myeong-su", "리명수"),
    ("Yi Myongsu", "이명수"),
    ("Park Sung-min", "박성민"),
    ("Pak Song Min", "박성민"),
    ("Bak Seong-min", "박성민"),
    ("Choi Eun-hee", "최은희"),
    ("Choe Un Hui", "최은희"),
    ("Chwe Eunhui", "최은희"),
    ("Jung Kwang-ho", "정광호"),
    ("Chong Kwang Ho", "정광호"),
    ("Jeong Gwang-ho", "정광호"),
    ("Kang Hye-jin", "강혜진"),
    ("Gang Hyejin", "강혜진"),
    ("Yoon Ji-hoon", "윤지훈"),
    ("Yun Chi Hun", "윤지훈"),
    ("Jang Min-jun", "장민준"),
    ("Chang Minjun", "장민준"),
    ("Lim Ok-hee", "림옥희"),
    ("Rim Ok Hui", "임옥희"),
    ("Im Okhui", "림옥희"),
    ("Ryu Kyung-soo", "류경수"),
    ("Yoo Gyeong-su", "유경수"),
    ("Yu Kyong Su", "류경수"),
    ("Oh Nam-chol", "오남철"),
    ("O Nam Chol", "오남철"),
    ("Seo Hyun-woo", "서현우"),
    ("Suh Hyeon-u", "서현우"),
    ("Shin Dong-il", "신동일"),
    ("Sin Tong-il", "신동일"),
    ("Kwon Sun-hee", "권순희"),
    ("Gwon Sunhui", "권순희"),
    ("Ahn Bok-hwa", "안복화"),
    ("An Pok-hwa", "안복화"),
    ("Jeon Geum-ok", "전금옥"),
    ("Chon Kum Ok", "전금옥"),
    ("Ko Ryon-hui", "고련희"),
    ("Go Yeon-hui", "고연희"),
    ("Moon Jae-hyun", "문재현"),
    ("Mun Chae Hyon", "문재현"),
    ("Hong Seo-yeon", "홍서연"),
    ("Hong So Yon", "홍서연"),
    ("Song Myung-sook", "송명숙"),
    ("Song Myong Suk", "송명숙"),
    ("Hahn Seong-il", "한성일"),
    ("Ryang Chol-ho", "량철호"),
    ("Yang Cheol-ho", "양철호"),
    ("Ri Chŏr-ho", "리철호"),
    ("Hwang Jin-ju", "황진주"),
    ("Namgung Min-su", "남궁민수"),
    ("Hwangbo Yong-chol", "황보영철"),
    ("SUNWOO Jin", "선우진"),
    ("Jegal Sung-ho", "제갈성호"),
    ("Noh Myung-soo", "로명수"),
    ("Roh Myong Su", "노명수"),
]


@pytest.mark.parametrize(("latin", "hangul"), SKELETON_EQUAL)
def test_romanization_meets_hangul(latin: str, hangul: str) -> None:
    x, y = n(latin), n(hangul)
    assert x.script == "latin" and y.script == "hangul"
    assert x.surname_folded == y.surname_folded
    assert x.surname_skeleton == y.surname_skeleton
    assert x.given_skeleton == y.given_skeleton
    assert x.given_consonants == y.given_consonants
    assert x.given_jamo == ""


#: The variant table (§6.3): spelling → the folded Hangul surname.
SURNAME_VARIANTS = [
    *(("이", s) for s in ("Lee", "Yi", "Rhee", "Ri", "I", "Rhie", "Li", "리", "이")),
    *(("김", s) for s in ("Kim", "Gim", "Ghim", "KIM", "김")),
    *(("박", s) for s in ("Park", "Pak", "Bak", "Bahk", "박")),
    *(("최", s) for s in ("Choi", "Choe", "Chwe")),
    *(("정", s) for s in ("Jung", "Jeong", "Chung", "Chong")),
    *(("강", s) for s in ("Kang", "Gang")),
    *(("조", s) for s in ("Cho", "Jo")),
    *(("윤", s) for s in ("Yoon", "Yun")),
    *(("장", s) for s in ("Jang", "Chang")),
    *(("임", s) for s in ("Lim", "Im", "Rim", "림", "임")),
    *(("한", s) for s in ("Han", "Hahn")),
    *(("오", s) for s in ("Oh", "O")),
    *(("서", s) for s in ("Seo", "Suh")),
    *(("신", s) for s in ("Shin", "Sin")),
    *(("권", s) for s in ("Kwon", "Gwon")),
    *(("황", s) for s in ("Hwang",)),
    *(("안", s) for s in ("Ahn", "An")),
    *(("송", s) for s in ("Song",)),
    *(("전", s) for s in ("Jeon", "Chon", "Jun")),
    *(("홍", s) for s in ("Hong",)),
    *(("유", s) for s in ("Ryu", "Yoo", "Yu", "Ryoo", "류", "유")),
    *(("고", s) for s in ("Ko", "Go")),
    *(("문", s) for s in ("Moon", "Mun")),
    *(("노", s) for s in ("Noh", "Roh", "Ro", "로", "노")),
    *(("양", s) for s in ("Yang", "Ryang", "량")),
    *(("나", s) for s in ("Na", "Ra", "라")),
    *(("남궁", s) for s in ("Namgung", "Nam-gung", "남궁")),
]


@pytest.mark.parametrize(("hangul", "spelling"), SURNAME_VARIANTS)
def test_surname_variants(hangul: str, spelling: str) -> None:
    given = "영철" if re.match("[가-힣]", spelling) else "Young-chul"
    out = n(f"{spelling} {given}")
    assert out.surname_folded == hangul
    assert out.surname_skeleton == skeleton(romanize(hangul))


# --- pairs that MUST NOT fold equal -----------------------------------------------------

NOT_EQUAL = [
    ("김영철", "김영수"),
    ("김영철", "김명철"),
    ("김영철", "김철영"),
    ("박성민", "백성민"),
    ("리영철", "김영철"),
    ("로명수", "도명수"),
    ("노명수", "오명수"),  # ㄴ before ㅗ is not folded: 노 is not 오
    ("나미경", "아미경"),  # nor before ㅏ
    ("김영련", "김영연"),  # only the first syllable of the given name is folded
    ("이영철", "이용철"),  # equal skeletons (§8 merges ㅓ/ㅗ), different jamo
    ("Park Sung-min", "Paek Sung-min"),
    ("Pak Sung-min", "Paik Sung-min"),
    ("Kim Young-chul", "Kim Young-su"),
    ("Choi Eun-hee", "Cho Eun-hee"),
    ("Jung Kwang-ho", "Jang Kwang-ho"),
    ("Han Min-jun", "Ahn Min-jun"),
    ("Shin Min-jun", "Sim Min-jun"),
    ("Kang Min-jun", "Kong Min-jun"),
]


@pytest.mark.parametrize(("a", "b"), NOT_EQUAL)
def test_not_fold_equal(a: str, b: str) -> None:
    x, y = n(a), n(b)
    assert (x.surname_folded, x.given_folded) != (y.surname_folded, y.given_folded)


def test_skeleton_is_coarse_but_jamo_is_not() -> None:
    a, b = n("이영철"), n("이용철")
    assert a.given_skeleton == b.given_skeleton == "yongjol"
    assert a.given_jamo == "ㅇㅕㅇㅊㅓㄹ" and b.given_jamo == "ㅇㅛㅇㅊㅓㄹ"


def test_paek_is_not_park_even_by_skeleton() -> None:
    assert n("Park Sung-min").surname_skeleton == "pak"
    assert n("Paek Sung-min").surname_skeleton == "pek"


def test_to_jamo_agrees_with_the_jamo_library_on_every_syllable() -> None:
    syllables = "".join(chr(c) for c in range(0xAC00, 0xD7A4))
    assert len(syllables) == 11_172
    assert to_jamo(syllables) == jamo.j2hcj(jamo.h2j(syllables))
    assert to_jamo("김 x") == "ㄱㅣㅁ x"  # anything else is kept as it is


def test_jamo_strings_grade_similarity() -> None:
    """given_jamo is what a Jaro-Winkler comparison (rapidfuzz) reads."""
    base = n("김영철").given_jamo
    near = JaroWinkler.similarity(base, n("김영출").given_jamo)
    far = JaroWinkler.similarity(base, n("김순희").given_jamo)
    assert 0.85 < near < 1.0 and far < 0.6


# --- the pieces -------------------------------------------------------------------------


def test_full_output() -> None:
    assert n("리영철") == NormalizedName(
        version=NORMALISATION_VERSION,
        script="hangul",
        surname_folded="이",
        surname_skeleton="i",
        given_folded="영철",
        given_jamo="ㅇㅕㅇㅊㅓㄹ",
        given_skeleton="yongjol",
        given_consonants="ngjl",
    )
    assert n("Young Chul KIM") == NormalizedName(
        version=1,
        script="latin",
        surname_folded="김",
        surname_skeleton="kim",
        given_folded="youngchul",
        given_jamo="",
        given_skeleton="yongjol",
        given_consonants="ngjl",
    )
    assert NORMALISATION_VERSION == 1


@pytest.mark.parametrize(
    ("word", "folded"),
    [
        ("리", "이"), ("류", "유"), ("림", "임"), ("량", "양"), ("렬", "열"), ("려", "여"),
        ("룡", "용"), ("례", "예"), ("로", "노"), ("라", "나"), ("래", "내"), ("뢰", "뇌"),
        ("루", "누"), ("녀", "여"), ("뇨", "요"), ("뉴", "유"), ("니", "이"), ("냐", "야"),
        ("노", "노"), ("나", "나"), ("이", "이"), ("김", "김"), ("련희", "연희"),
        ("영련", "영련"), ("", ""), ("Ri", "Ri"),
    ],
)  # fmt: skip
def test_fold_initial_sound(word: str, folded: str) -> None:
    assert fold_initial_sound(word) == folded


def test_fold_initial_sound_on_every_syllable() -> None:
    """Idempotent, and no folded syllable starts with ㄹ, or ㄴ before an i/y vowel."""
    iy = {2, 3, 6, 7, 12, 17, 20}
    for code in range(0xAC00, 0xD7A4):
        s = fold_initial_sound(chr(code))
        assert fold_initial_sound(s) == s
        lead, vowel = divmod((ord(s) - 0xAC00) // 28, 21)
        assert lead != 5 and not (lead == 2 and vowel in iy)


@pytest.mark.parametrize(
    ("hangul", "rr"),
    [("영철", "yeongcheol"), ("연희", "yeonhui"), ("최", "choe"), ("김", "gim"),
     ("박", "bak"), ("철례", "cheollye"), ("꽃", "kkot"), ("앉", "an"), ("x김", "xgim")],
)  # fmt: skip
def test_romanize(hangul: str, rr: str) -> None:
    assert romanize(hangul) == rr


@pytest.mark.parametrize(
    ("spellings", "expected"),
    [
        (("Yongchol", "Young-chul", "Yeong Cheol", "yeongcheol", "Yŏng-ch'ŏl"), "yongjol"),
        (("Myung-soo", "Myeongsu", "Myong Su"), "myongso"),
        (("Eun-hee", "Eunhui", "Unhui"), "onhi"),
        (("Hyun-woo", "Hyeonu", "Hyonu"), "hyono"),
        (("Ji-hoon", "Jihun", "Chihun"), "jihon"),
        (("Chinnyol", "Jinryeol", "Jillyeol"), "jilyol"),
        (("Chongnyol", "Jeongryeol"), "jongnyol"),
        (("Ri", "Lee", "I", "Yi"), "i"),
        (("Choi", "Choe", "Chwe"), "jwe"),
        (("Ahn", "An"), "an"),
        (("Pakgi", "Bakki"), "paki"),
    ],
)
def test_skeleton(spellings: tuple[str, ...], expected: str) -> None:
    assert {skeleton(unicodedata.normalize("NFKD", s)) for s in spellings} == {expected}


def test_consonants() -> None:
    assert consonants("Young-chul") == "ngjl"
    assert consonants("Eun-hee") == "nh"


def test_latin_surname_outside_the_table() -> None:
    out = n("Tuk Young-chul")
    assert out.surname_folded is None
    assert out.surname_skeleton == "tok"
    assert out.given_skeleton == "yongjol"


def test_hangul_surname_outside_the_table_is_kept() -> None:
    assert n("뇽철수").surname_folded == "용"


def test_scripts() -> None:
    assert n("김영철").script == "hangul"
    assert n("Kim Young-chul").script == "latin"
    assert n("김 Young-chul").script == "mixed"


def test_double_final_repaired() -> None:
    assert n("ㄱㅏㄹㄱ철").surname_folded == "갉"


def test_surname_order_by_rank_and_capitals() -> None:
    assert n("Min Jun Lee").surname_folded == "이"
    assert n("Lee Min Ha").surname_folded == "이"
    assert n("Han Song-i").surname_folded == "한"
    assert n("Song Han").surname_folded == "한"  # both in the table: the commoner, 한
    assert n("Han Song").surname_folded == "한"
    assert n("Han SONG").surname_folded == "송"  # capitals win over rank
    assert n("Min Namgung").surname_folded == "남궁"  # two syllables before one
    assert n("Hwangbo Jin").surname_folded == "황보"
    assert n("Sunwoo Jin").surname_folded == "진"  # 선우 is also a given name: rank decides
    assert n("Jin Sunwoo").surname_folded == "진"


# --- errors: exact messages, never the input --------------------------------------------

MESSAGES = {
    "empty": "name has no letters once spaces and punctuation are removed (leave it blank instead)",
    "too_long": "name is longer than 100 characters (shorten it)",
    "not_letters": "name contains characters that are not Korean or Latin letters (write it "
    "in Hangul or in Latin letters, without digits or symbols)",
    "stray_jamo": "name contains Korean letters that do not form syllables (retype it in "
    "whole syllables, e.g. with the Korean keyboard's composition on)",
    "one_syllable": "name has only one syllable (write the surname and the given name)",
    "no_given_name": "name in Latin letters needs the surname and the given name separated "
    "by a space",
    "mixed_script": "name mixes Korean and Latin letters in a way that cannot be read as "
    "surname and given name (write it in Hangul only, or in Latin letters only)",
    "not_text": "name must be text",
}

ERRORS = [
    ("", "empty"),
    (" - . ", "empty"),
    ("\u200b\u3164", "empty"),
    ("김" * 101, "too_long"),
    ("김영철2", "not_letters"),
    ("김영철 ☺", "not_letters"),
    ("金永哲", "not_letters"),
    ("Ким Ен Чер", "not_letters"),
    ("김\u0301영철", "not_letters"),
    ("ㄱㅇㅊ", "stray_jamo"),
    ("김ㅏ영철", "stray_jamo"),
    ("기ㄸ영철", "stray_jamo"),
    ("ㅥ영철", "stray_jamo"),
    ("김", "one_syllable"),
    ("ㄱㅣㅁ", "one_syllable"),
    ("Kimyoungchul", "no_given_name"),
    ("뷁 Young Chul", "mixed_script"),
]


@pytest.mark.parametrize(("text", "code"), ERRORS)
def test_errors_are_exact_and_never_echo(text: str, code: str) -> None:
    with pytest.raises(IdentityInputError) as e:
        n(text)
    assert e.value.code == code
    assert str(e.value) == MESSAGES[code]
    assert isinstance(e.value, SchemaError)
    letters = [w for w in re.split(r"[\W\d_]+", text) if len(w) >= 2]
    for w in letters:
        assert w not in str(e.value) and w not in repr(e.value)


def test_not_text() -> None:
    with pytest.raises(IdentityInputError, match="^name must be text$"):
        normalize_name(None)  # type: ignore[arg-type]


def test_error_pickles() -> None:
    err = IdentityInputError("empty", MESSAGES["empty"])
    back = pickle.loads(pickle.dumps(err))
    assert (back.code, str(back)) == ("empty", MESSAGES["empty"])


# --- provinces ---------------------------------------------------------------------------

PROVINCES = [
    ("north_hamgyong", "north_hamgyong"),
    ("함경북도", "north_hamgyong"),
    ("함북", "north_hamgyong"),
    ("North Hamgyong", "north_hamgyong"),
    ("north hamgyŏng province", "north_hamgyong"),
    ("Hamgyong-bukto", "north_hamgyong"),
    ("Hamgyŏng-pukto", "north_hamgyong"),
    ("Hamgyeongbuk-do", "north_hamgyong"),
    ("N. Hamgyong", "north_hamgyong"),
    ("청진시", "north_hamgyong"),
    ("Chongjin", "north_hamgyong"),
    ("South Hamgyong", "south_hamgyong"),
    ("함경남도", "south_hamgyong"),
    ("Hamgyongnam-do", "south_hamgyong"),
    ("량강도", "ryanggang"),
    ("양강도", "ryanggang"),
    ("Ryanggang", "ryanggang"),
    ("Yanggang-do", "ryanggang"),
    ("혜산", "ryanggang"),
    ("Chagang", "chagang"),
    ("Jagang-do", "chagang"),
    ("평안북도", "north_pyongan"),
    ("Pyeonganbuk-do", "north_pyongan"),
    ("Sinuiju", "north_pyongan"),
    ("South P'yŏngan", "south_pyongan"),
    ("평남", "south_pyongan"),
    ("North Hwanghae", "north_hwanghae"),
    ("황해남도", "south_hwanghae"),
    ("Hwanghae-namdo", "south_hwanghae"),
    ("강원도", "kangwon"),
    ("Gangwon", "kangwon"),
    ("평양직할시", "pyongyang"),
    ("P'yŏngyang", "pyongyang"),
    ("Pyeongyang City", "pyongyang"),
    ("라선시", "rason"),
    ("나선", "rason"),
    ("Rajin-Sonbong", "rason"),
    ("Rason Special City", "rason"),
    ("남포특별시", "nampo"),
    ("Namp'o", "nampo"),
    ("진남포", "nampo"),
    ("개성", "kaesong"),
    ("Gaeseong", "kaesong"),
    ("신의주특별행정구", "sinuiju_sar"),
    ("신의주 특별행정구", "sinuiju_sar"),
    ("Sinuiju Special Administrative Region", "sinuiju_sar"),
    ("Sinŭiju SAR", "sinuiju_sar"),
    ("other_unknown", "other_unknown"),
    ("모름", "other_unknown"),
    ("Don't know", "other_unknown"),
    ("함경북도 (North Hamgyong)", "north_hamgyong"),
    ("ＲＡＳＯＮ", "rason"),
]


@pytest.mark.parametrize(("text", "code"), PROVINCES)
def test_province_crosswalk(text: str, code: str) -> None:
    assert normalize_province(text).code == code


def test_every_form_choice_is_a_region_with_its_labels() -> None:
    choices = shipped_form("escapee-interview").choices["province"]
    assert [c.value for c in choices] == list(REGIONS)
    for c in choices:
        region = normalize_province(c.value)
        assert region is REGIONS[c.value]
        assert (region.name_en, region.name_ko) == (c.label["en"], c.label["ko"])
        assert region.kind == c.properties["kind"]
        assert normalize_province(c.label["ko"]) is region
        assert normalize_province(c.label["en"]) is region


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("rason", "north_hamgyong"),
        ("nampo", "south_pyongan"),
        ("kaesong", "north_hwanghae"),
        ("sinuiju_sar", "north_pyongan"),
        ("ryanggang", "south_hamgyong"),
        ("chagang", "north_pyongan"),
        ("pyongyang", "south_pyongan"),
        ("north_hwanghae", "south_hwanghae"),
    ],
)
def test_compatible_regions(a: str, b: str) -> None:
    ra, rb = REGIONS[a], REGIONS[b]
    assert ra.compatible_with(rb) and rb.compatible_with(ra)
    assert ra.compatible_with(ra)


def test_incompatible_regions_and_unknown() -> None:
    assert not REGIONS["north_hamgyong"].compatible_with(REGIONS["south_pyongan"])
    assert not REGIONS["rason"].compatible_with(REGIONS["ryanggang"])
    unknown = REGIONS["other_unknown"]
    assert unknown.compatible == frozenset()
    for r in REGIONS.values():
        assert not unknown.compatible_with(r) and not r.compatible_with(unknown)


def test_compatibility_is_symmetric() -> None:
    for a in REGIONS.values():
        for code in a.compatible:
            assert a.code in REGIONS[code].compatible


PROVINCE_MESSAGES = {
    "unknown_province": "province not recognised (use one of the form's province values, e.g. "
    "north_hamgyong, or its name in Korean or English)",
    "ambiguous_province": "province name is ambiguous: the province was split long ago (say "
    "North or South)",
    "too_long": "province is longer than 100 characters (shorten it)",
}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Atlantis", "unknown_province"),
        ("서울특별시", "unknown_province"),
        ("", "unknown_province"),
        ("12", "unknown_province"),
        ("함경도", "ambiguous_province"),
        ("Hwanghae Province", "ambiguous_province"),
        ("P'yŏngan-do", "ambiguous_province"),
        ("x" * 101, "too_long"),
    ],
)
def test_province_errors(text: str, code: str) -> None:
    with pytest.raises(IdentityInputError) as e:
        normalize_province(text)
    assert e.value.code == code
    assert str(e.value) == PROVINCE_MESSAGES[code]
    for w in re.split(r"[\W\d_]+", text):
        if len(w) >= 2:
            assert w not in str(e.value)


# --- the spec's table is the code's -----------------------------------------------------


def test_spec_surname_table_is_the_code_table() -> None:
    text = SPEC.read_text(encoding="utf-8")
    block = text.split("<!-- surname-table:begin -->")[1].split("<!-- surname-table:end -->")[0]
    rows = [line.strip("|").split("|") for line in block.strip().splitlines()[2:]]
    table = tuple(
        (cells[1].strip(), tuple(s.strip() for s in cells[2].split(","))) for cells in rows
    )
    assert table == SURNAMES
    assert "normalisation v1" in text


# --- properties -------------------------------------------------------------------------

_SYLLABLE = st.integers(0xAC00, 0xD7A3).map(chr)
_COMMON = st.sampled_from(list("김이리박최정강조윤장림임한오서신권황안송전홍류유고문로노"))
_GIVEN = st.sampled_from(list("영철명수남순옥희정성혁광일금은미경진호현숙향련주국용복화선녀룡"))
_ROMAN = st.sampled_from(
    ["Kim", "Lee", "Ri", "Park", "Pak", "Choe", "Jung", "Young", "Chul", "Yong", "Chol",
     "Myung", "Soo", "Ok", "Hee", "Sung", "Min", "Ryon", "Hui", "Namgung", "Eun", "KIM"]
)  # fmt: skip

hangul_names = st.builds(
    lambda s, g, sep: s + sep + "".join(g),
    _COMMON,
    st.lists(_GIVEN, min_size=1, max_size=3),
    st.sampled_from(["", " ", "  "]),
)
any_syllable_names = st.lists(_SYLLABLE, min_size=2, max_size=5).map("".join)
latin_names = st.lists(_ROMAN, min_size=2, max_size=4).map(" ".join)
_MESSY = "김이영철ㄱㅣㅁㅇㅕㅏㄹ ㅘㄳ-'.Kim yoŏ" + "\u0306\u200b\u3164ＫＡ1,()ㄸ"
messy = st.text(alphabet=st.sampled_from(list(_MESSY)), max_size=12)


@given(st.text(max_size=60) | hangul_names | latin_names | messy)
@example("\ud800")
@example("ㅤ")
def test_never_raises_anything_else_and_never_echoes(text: str) -> None:
    try:
        first = normalize_name(text)
    except IdentityInputError as e:
        assert str(e) in MESSAGES.values()
        return
    assert normalize_name(text) == first  # deterministic
    assert first.version == NORMALISATION_VERSION
    assert first.given_folded


@given(hangul_names | any_syllable_names | latin_names | messy)
def test_idempotent_on_folded_output(text: str) -> None:
    try:
        first = normalize_name(text)
    except IdentityInputError:
        return
    if first.surname_folded is None:
        return
    again = normalize_name(f"{first.surname_folded} {first.given_folded}")
    assert _fields(again) == _fields(first)


def _fields(x: NormalizedName) -> tuple[object, ...]:
    return (x.surname_folded, x.surname_skeleton, x.given_folded, x.given_jamo,
            x.given_skeleton, x.given_consonants)  # fmt: skip


@given(any_syllable_names | hangul_names)
def test_jamo_typed_and_decomposed_input_repairs_to_the_same(text: str) -> None:
    """Typing a name letter by letter (compatibility jamo) or in NFD changes nothing."""
    letters = jamo.j2hcj(jamo.h2j(text))
    assert normalize_name(letters) == normalize_name(text)
    assert normalize_name(unicodedata.normalize("NFD", text)) == normalize_name(text)


@given(hangul_names)
def test_north_and_south_spelling_fold_equal(text: str) -> None:
    south = "".join(fold_initial_sound(w) for w in re.split(r"(\s+)", text))
    a, b = normalize_name(text), normalize_name(south)
    assert (a.surname_folded, a.given_folded) == (b.surname_folded, b.given_folded)


@given(hangul_names)
def test_hangul_skeleton_is_the_skeleton_of_its_romanization(text: str) -> None:
    out = normalize_name(text)
    assert out.given_skeleton == skeleton(romanize(out.given_folded))
    assert out.given_consonants == consonants(romanize(out.given_folded))


@given(st.text(max_size=40))
def test_province_never_raises_anything_else(text: str) -> None:
    try:
        region = normalize_province(text)
    except IdentityInputError as e:
        assert str(e) in PROVINCE_MESSAGES.values()
        return
    assert normalize_province(text) is region
