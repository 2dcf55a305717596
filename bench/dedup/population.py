"""Synthetic respondent populations with ground truth, for evaluating deduplication.

Usage:  .venv/bin/python bench/dedup/population.py --size 20000 --duplicates 0.10 --seed 1 \\
            --out population.jsonl [--truth population.truth.jsonl]

Writes one JSON object per interview to --out, holding only what the matcher may see (the
identity answers of the shipped form as recorded: ``respondent_name``, ``sex``,
``birth_year``, ``province_of_origin``, ``departure_year``, plus ``interview_id`` and
``organisation``), and the ground truth to --truth (default: the --out name with
``.truth.jsonl``): per interview its ``person_id`` and the variants applied when it was
recorded. A summary (counts, name collisions) is printed as JSON.

Every name is synthetic: a surname from a frequency table and a given name of two syllables
drawn from weighted syllable lists. Any resemblance to a real person is an accident of
combinatorics, which is also the point: DIFFERENT people sharing the same name, sex and birth
year occur as they do in life, and that is what makes precision hard.

Generation is deterministic for a seed (one ``random.Random(seed)``, no global random state,
no iteration over sets). Each recorded interview is an independent noisy copy of the
person's truth; see the ``*_RATE`` constants below for every kind of variation and the reason
for its rate. Sizes: ``size`` is the number of persons (respondents); ``duplicates`` is the
share of them interviewed more than once (by different organisations), a few of them thrice.

The rates and tables are an informed guess from /work/shared/DOMAIN.md and public
statistics (Ministry of Unification arrival counts, the 2015 South Korean census of
surnames), not measurements of real interview data: tune them when reviewed pairs exist.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

GENERATOR_VERSION = 1


def syllable_weights(spec: str) -> dict[str, int]:
    """Parse "영22 순14 ..." (a syllable, then its weight) into a dict, in order."""
    out: dict[str, int] = {}
    for token in spec.split():
        key, weight = token[0], int(token[1:])
        if key in out:
            raise ValueError(f"{key} twice in a weight table")
        out[key] = weight
    return out


# ==================================================================== population shape

# Surnames: (North Korean / etymological spelling, approximate share in per cent of the
# population from the 2015 South Korean census; the North Korean distribution is believed to
# be much the same). Weights are normalised over the table, so the table's ~47 surnames stand
# for the whole population and Kim + Lee + Park come to about half of it (DOMAIN.md). The
# South Korean spelling drops an initial ㄹ/ㄴ (리→이, 림→임, 류→유, 량→양, 로→노, 라→나,
# 렴→염, 려→여): see `to_south`.
SURNAMES: tuple[tuple[str, float], ...] = (
    ("김", 21.5),
    ("리", 14.7),
    ("박", 8.4),
    ("최", 4.7),
    ("정", 4.3),
    ("강", 2.3),
    ("조", 2.1),
    ("윤", 2.1),
    ("장", 2.0),
    ("림", 1.7),
    ("한", 1.5),
    ("오", 1.5),
    ("서", 1.5),
    ("신", 1.5),
    ("권", 1.4),
    ("황", 1.4),
    ("안", 1.3),
    ("송", 1.3),
    ("전", 1.1),
    ("홍", 1.1),
    ("류", 1.1),
    ("고", 0.9),
    ("문", 0.9),
    ("량", 0.9),
    ("손", 0.9),
    ("배", 0.8),
    ("백", 0.7),
    ("허", 0.6),
    ("남", 0.5),
    ("심", 0.5),
    ("로", 0.4),
    ("하", 0.4),
    ("곽", 0.4),
    ("성", 0.4),
    ("차", 0.4),
    ("주", 0.4),
    ("우", 0.4),
    ("구", 0.4),
    ("민", 0.3),
    ("라", 0.3),
    ("진", 0.3),
    ("지", 0.3),
    ("엄", 0.3),
    ("채", 0.25),
    ("원", 0.25),
    ("천", 0.25),
    ("방", 0.2),
    ("공", 0.2),
    ("현", 0.2),
    ("함", 0.2),
    ("렴", 0.15),
    ("려", 0.15),
    ("남궁", 0.04),
)

# Given names: two syllables, the first and the second drawn independently from weighted
# lists by sex, in the etymological (North Korean) spelling: 련희, 룡철 become 연희, 용철 in
# the South. Weights are rough popularity among people born 1950-2005 in the North; lists
# are long enough that most full names are rare, short enough that 김영숙 or 리영철 recur
# among thousands of women or men born in the same year.
GIVEN_FIRST: dict[str, dict[str, int]] = {
    "female": syllable_weights(
        "영22 순14 정12 명9 옥10 춘6 금7 은7 혜6 미6 경7 선6 향5 련5 설3 성4 현5 진4 복3 화3 "
        "월2 송2 해3 수5 지4 윤3 주3 란3 려3 류1 례2 리2 애3 숙3 분2 덕2 귀2 청1 봉2 효2 "
        "광1 인3 희2 연3 소2 채1 나1 보2 양1 말1 령3 유2"
    ),
    "male": syllable_weights(
        "영18 명9 철10 광10 성12 정10 룡5 용4 춘4 동6 경5 국5 남5 승4 일4 학4 혁3 진4 만3 "
        "충3 현4 원4 상5 기4 문3 대3 금3 세3 준3 인4 창4 석3 봉3 태4 효3 송2 윤3 종4 령2 "
        "리1 려1 림1 덕3 수4 은3 하2 재3 주3 평2 도2 청2 병3 길2 혜1"
    ),
}
GIVEN_SECOND: dict[str, dict[str, int]] = {
    "female": syllable_weights(
        "희20 숙18 순14 자7 옥9 미7 화8 영9 실5 란6 녀5 심4 금5 주4 정5 향5 아4 진5 선4 림3 "
        "련4 애4 월3 단2 매3 분3 연4 경4 혜3 빈2 은3 민2 춘2 덕2 임1 운2 명3 수3 복2 례2 "
        "현3 송1 비1 예1 해2 설1 나1 이2"
    ),
    "male": syllable_weights(
        "철22 호10 남10 일10 수12 진5 혁8 길5 국7 성10 민5 복4 만4 식5 범3 훈5 준4 석5 덕4 "
        "학4 룡5 림3 환4 근4 우4 명4 관3 선3 봉3 택3 규3 삼2 현4 영5 웅3 욱3 원3 춘3 희2 "
        "권1 무2 천2 표1 광3 구2 건2 섭1"
    ),
}

# Given names chosen after arrival in the South: popular South Korean syllables, so a changed
# name shares nothing with the old one but the surname (see NAME_CHANGE_RATE).
NEW_GIVEN_FIRST: dict[str, tuple[str, ...]] = {
    "female": tuple("지수민서은현유하예다소가나채세혜선아"),
    "male": tuple("민준지현성동재상진태승우도건시영"),
}
NEW_GIVEN_SECOND: dict[str, tuple[str, ...]] = {
    "female": tuple("연진현영은아희빈원나민서윤지정경"),
    "male": tuple("수호우훈민혁석준영현진빈원규환"),
}

# About 70% of all arrivals over time are women (DOMAIN.md). Yearly shares moved (about 37%
# in 2021) but the population is dominated by the years of many arrivals, so one rate.
FEMALE_RATE = 0.70

# Departure years 2000-2022 follow the shape of yearly arrivals in the South (Ministry of
# Unification; DOMAIN.md quotes 2011 2,706, 2017 1,127, 2019 1,047, 2020 229, 2021 63, 2022
# 42 to September), shifted one year earlier because most people leave a year or more before
# they arrive. The value for year y is the arrival count of y + 1; 2022 extrapolates.
DEPARTURE_YEAR_WEIGHTS: dict[int, int] = {
    2000: 583, 2001: 1139, 2002: 1281, 2003: 1894, 2004: 1383, 2005: 2018, 2006: 2544,
    2007: 2809, 2008: 2914, 2009: 2402, 2010: 2706, 2011: 1502, 2012: 1514, 2013: 1397,
    2014: 1275, 2015: 1418, 2016: 1127, 2017: 1137, 2018: 1047, 2019: 229, 2020: 63,
    2021: 67, 2022: 50,
}  # fmt: skip

# Age at departure (10-year bands, Ministry of Unification arrival statistics, approximate):
# most are in their twenties and thirties, children and the old are few. Birth year is the
# departure year minus the age, redrawn until it falls within BIRTH_YEAR_RANGE, which skews
# birth years towards 1970-1990.
AGE_AT_DEPARTURE_WEIGHTS: dict[tuple[int, int], float] = {
    (0, 9): 4, (10, 19): 12, (20, 29): 28, (30, 39): 29, (40, 49): 16, (50, 59): 6,
    (60, 69): 5,
}  # fmt: skip
BIRTH_YEAR_RANGE = (1950, 2005)

# Last province or city of residence (form values), approximate cumulative shares of
# arrivals by origin: the border provinces North Hamgyong and Ryanggang dominate, so province
# alone tells little about identity (DOMAIN.md).
PROVINCE_WEIGHTS: dict[str, float] = {
    "north_hamgyong": 56.0,
    "ryanggang": 17.0,
    "south_hamgyong": 8.0,
    "south_pyongan": 4.0,
    "north_pyongan": 2.5,
    "pyongyang": 2.0,
    "kangwon": 2.0,
    "chagang": 1.5,
    "north_hwanghae": 1.5,
    "south_hwanghae": 1.5,
    "rason": 1.5,
    "nampo": 0.6,
    "kaesong": 0.3,
    "sinuiju_sar": 0.3,
    "other_unknown": 1.3,
}

# Another answer compatible with the true one: the same place under a unit that contained it
# at another time (Rason was at times part of North Hamgyong, Nampo of South Pyongan, Kaesong
# became part of North Hwanghae in 2003, Sinuiju was carved out of North Pyongan, Ryanggang
# and Chagang were carved out of South Hamgyong and North Pyongan, areas moved between
# Pyongyang and its neighbours in 2010, Hwanghae was split in 1954), or "don't know". A
# crosswalk should treat each pair as compatible; the first alternative is drawn 3 times in 4.
PROVINCE_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "north_hamgyong": ("rason", "other_unknown"),
    "rason": ("north_hamgyong",),
    "ryanggang": ("south_hamgyong", "other_unknown"),
    "south_hamgyong": ("ryanggang",),
    "south_pyongan": ("nampo", "pyongyang"),
    "nampo": ("south_pyongan",),
    "north_pyongan": ("sinuiju_sar", "chagang"),
    "sinuiju_sar": ("north_pyongan",),
    "chagang": ("north_pyongan",),
    "pyongyang": ("south_pyongan", "north_hwanghae"),
    "north_hwanghae": ("kaesong", "south_hwanghae"),
    "kaesong": ("north_hwanghae",),
    "south_hwanghae": ("north_hwanghae",),
    "kangwon": ("other_unknown",),
    "other_unknown": ("north_hamgyong",),
}

# Organisations interviewing: a few large ones do most of the interviews. Repeat interviews
# of one person are always by organisations that have not interviewed them yet (the issue:
# several organisations interview the same arrivals).
ORGANISATIONS: dict[str, float] = {
    "org-01": 30,
    "org-02": 22,
    "org-03": 16,
    "org-04": 12,
    "org-05": 10,
    "org-06": 6,
    "org-07": 4,
}

# Among the persons interviewed more than once, the share interviewed three times.
THRICE_SHARE = 0.05

# ================================================================== variation rates
# Each rate is per recorded interview (every interview, singletons too: a typo does not
# care whether the person will be interviewed again) unless stated otherwise.

# The person's habitual spelling is the North Korean one (리, 림, 련희) rather than the South
# Korean one (이, 임, 연희). Per person. Recent arrivals and people interviewed soon after
# arrival keep the North spelling; most adopt the South one over the years.
NORTH_HABIT_RATE = 0.35

# The name is left blank: it is optional on the form and the hint says to leave it blank if
# the respondent prefers; families remain inside, and many prefer.
NAME_MISSING_RATE = 0.05

# The name is written in Latin letters rather than Hangul (per recorded name): international
# organisations and English-language intake forms. The scheme is drawn from
# ROMANIZATION_SCHEMES.
ROMANIZED_RATE = 0.12
ROMANIZATION_SCHEMES: dict[str, float] = {
    "rr": 0.30,  # Revised Romanization: Kim Yeongcheol (surname also strict: Gim, I, Bak)
    "mr": 0.15,  # McCune-Reischauer with diacritics: Kim Yŏngch'ŏl
    "mr_plain": 0.15,  # McCune-Reischauer without diacritics, as typed: Kim Yongchol
    "popular": 0.40,  # customary spellings: Lee Young Chul, Park Jung-Hee, Rhee, Choi
}
# Within a romanized name: family name written last (Western order), given name joined /
# hyphenated / spaced, and capitalisation styles.
FAMILY_NAME_LAST_RATE = 0.30
GIVEN_JOIN_WEIGHTS: dict[str, float] = {"": 0.40, "-": 0.30, " ": 0.30}
CASE_WEIGHTS: dict[str, float] = {
    "title": 0.78,
    "surname_upper": 0.12,
    "upper": 0.07,
    "lower": 0.03,
}

# A Hangul name written in the other orthography: North spelling for a South-habit person or
# South spelling for a North-habit person (리↔이, 로↔노, 류↔유, 림↔임, 량↔양, 녀↔여 at the
# start of the surname or given name). Per name recorded in Hangul that has two spellings
# (about a quarter of names: 이/리 alone is 15%).
# Interviewers from escapee-run organisations often write the North form, others the South.
NORTH_SOUTH_RATE = 0.25

# A space between surname and given name in Hangul (김 영철): common on paper forms.
HANGUL_SPACING_RATE = 0.08

# One typing or hearing error: one jamo substituted (keyboard neighbour, plain/tense/
# aspirated, ㅐ/ㅔ, ㄴ/ㅇ final), dropped (a final consonant) or swapped with the adjacent one
# (keystroke transposition) in Hangul; one letter substituted, dropped, doubled or transposed
# in Latin.
TYPO_RATE = 0.04

# A different given name: the respondent gives the name chosen after arrival in the South
# (many change their names, DOMAIN.md). Per person interviewed more than once; every
# interview after the first records the new name. Only surname, sex, birth year, province and
# departure year still agree: the matcher should send these to review.
NAME_CHANGE_RATE = 0.08

# Birth year off by one: lunar/solar calendar, Korean age reckoning, uncertain documents.
BIRTH_YEAR_OFF_RATE = 0.05

# Departure year off by one: leaving home vs crossing the border, a winter crossing, memory
# of years spent in transit.
DEPARTURE_YEAR_OFF_RATE = 0.08

# Province recorded as a compatible unit (PROVINCE_ALTERNATIVES) or "don't know".
PROVINCE_ALT_RATE = 0.04

# Sex is never varied: a different sex is a hard conflict for the matcher (issue 5).

VARIANT_KINDS: tuple[str, ...] = (
    "name_missing",
    "romanized:rr",
    "romanized:mr",
    "romanized:mr_plain",
    "romanized:popular",
    "family_name_last",
    "north_south",
    "hangul_spacing",
    "typo",
    "name_changed",
    "birth_year_off",
    "departure_year_off",
    "province_alt",
)

# =========================================================================== records


@dataclass(frozen=True, slots=True)
class Person:
    """The ground truth of one respondent. Names are kept in the etymological (North Korean)
    spelling; `surname`/`given_name` give the person's habitual spelling."""

    person_id: str
    surname_north: str
    given_north: str
    north_habit: bool
    sex: str
    birth_year: int
    province_of_origin: str
    departure_year: int
    new_given_name: str | None = None  # the name chosen in the South, if it changed

    @property
    def surname(self) -> str:
        return self.surname_north if self.north_habit else to_south(self.surname_north)

    @property
    def given_name(self) -> str:
        return self.given_north if self.north_habit else to_south(self.given_north)

    @property
    def name(self) -> str:
        return self.surname + self.given_name


@dataclass(frozen=True, slots=True)
class Interview:
    """One interview's identity answers as recorded, with its ground truth (person_id,
    variants) alongside: `record()` is what a matcher may see."""

    interview_id: str
    person_id: str
    organisation: str
    respondent_name: str | None
    sex: str
    birth_year: int
    province_of_origin: str
    departure_year: int
    variants: tuple[str, ...] = ()

    def record(self) -> dict[str, object]:
        return {
            "interview_id": self.interview_id,
            "organisation": self.organisation,
            "respondent_name": self.respondent_name,
            "sex": self.sex,
            "birth_year": self.birth_year,
            "province_of_origin": self.province_of_origin,
            "departure_year": self.departure_year,
        }

    def truth(self) -> dict[str, object]:
        return {
            "interview_id": self.interview_id,
            "person_id": self.person_id,
            "variants": list(self.variants),
        }


@dataclass(slots=True)
class Population:
    seed: int
    duplicates: float
    persons: list[Person] = field(default_factory=list)
    interviews: list[Interview] = field(default_factory=list)


# ============================================================================ Hangul

CHO = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
JUNG = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
JONG = ("", *"ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ")
_BASE = 0xAC00


def is_syllable(ch: str) -> bool:
    return 0xAC00 <= ord(ch) <= 0xD7A3


def decompose(ch: str) -> tuple[int, int, int]:
    """Indices (initial, medial, final) of a precomposed Hangul syllable."""
    code = ord(ch) - _BASE
    return code // 588, (code // 28) % 21, code % 28


def compose(cho: int, jung: int, jong: int = 0) -> str:
    return chr(_BASE + (cho * 21 + jung) * 28 + jong)


_Y_OR_I = {JUNG.index(v) for v in "ㅑㅕㅖㅛㅠㅣ"}
_RIEUL, _NIEUN, _IEUNG = CHO.index("ㄹ"), CHO.index("ㄴ"), CHO.index("ㅇ")


def _south_syllable(ch: str) -> str:
    cho, jung, jong = decompose(ch)
    if cho == _RIEUL:
        cho = _IEUNG if jung in _Y_OR_I else _NIEUN
    elif cho == _NIEUN and jung in _Y_OR_I and JUNG[jung] != "ㅑ":
        cho = _IEUNG
    return compose(cho, jung, jong)


def to_south(part: str) -> str:
    """South Korean spelling of a surname or given name written in the North Korean one: the
    initial-sound rule (두음법칙) on the first syllable only (리→이, 로→노, 녀→여, 련희→연희;
    순녀 keeps its 녀)."""
    if not part or not is_syllable(part[0]):
        return part
    return _south_syllable(part[0]) + part[1:]


def has_two_spellings(surname_north: str, given_north: str) -> bool:
    return to_south(surname_north) != surname_north or to_south(given_north) != given_north


# ==================================================================== romanization

_RR_CHO = ("g", "kk", "n", "d", "tt", "r", "m", "b", "pp", "s", "ss", "", "j", "jj", "ch",
           "k", "t", "p", "h")  # fmt: skip
_RR_JUNG = ("a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae", "oe", "yo", "u",
            "wo", "we", "wi", "yu", "eu", "ui", "i")  # fmt: skip
_JONG_LATIN = ("", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l", "l", "p", "l",
               "m", "p", "p", "t", "t", "ng", "t", "t", "k", "t", "p", "t")  # fmt: skip
_MR_CHO = ("k", "kk", "n", "t", "tt", "r", "m", "p", "pp", "s", "ss", "", "ch", "tch", "ch'",
           "k'", "t'", "p'", "h")  # fmt: skip
_MR_VOICED = {0: "g", 3: "d", 7: "b", 12: "j"}  # ㄱ ㄷ ㅂ ㅈ between voiced sounds
_MR_JUNG = ("a", "ae", "ya", "yae", "ŏ", "e", "yŏ", "ye", "o", "wa", "wae", "oe", "yo", "u",
            "wŏ", "we", "wi", "yu", "ŭ", "ŭi", "i")  # fmt: skip
_SONORANT_FINALS = {JONG.index(j) for j in ("", "ㄴ", "ㄹ", "ㅁ", "ㅇ")}
_SI = {JUNG.index("ㅣ"), JUNG.index("ㅟ")}
_SIOT = CHO.index("ㅅ")

# Customary romanizations of surnames, by Hangul spelling, with weights (the "popular"
# scheme; also used by "rr" and "mr" when the surname is not written strictly).
SURNAME_LATIN: dict[str, dict[str, float]] = {
    "김": {"Kim": 0.95, "Gim": 0.05},
    "이": {"Lee": 0.70, "Yi": 0.12, "Rhee": 0.06, "I": 0.04, "Ri": 0.04, "Rhie": 0.04},
    "리": {"Ri": 0.50, "Lee": 0.30, "Rhee": 0.12, "Li": 0.08},
    "박": {"Park": 0.80, "Pak": 0.12, "Bak": 0.08},
    "최": {"Choi": 0.85, "Choe": 0.15},
    "정": {"Jung": 0.40, "Jeong": 0.30, "Chung": 0.20, "Chong": 0.10},
    "강": {"Kang": 0.90, "Gang": 0.10},
    "조": {"Cho": 0.70, "Jo": 0.25, "Joe": 0.05},
    "윤": {"Yoon": 0.60, "Yun": 0.40},
    "장": {"Jang": 0.60, "Chang": 0.40},
    "임": {"Lim": 0.55, "Im": 0.25, "Yim": 0.15, "Rim": 0.05},
    "림": {"Rim": 0.55, "Lim": 0.40, "Im": 0.05},
    "한": {"Han": 1.0},
    "오": {"Oh": 0.80, "O": 0.20},
    "서": {"Seo": 0.55, "Suh": 0.35, "So": 0.10},
    "신": {"Shin": 0.80, "Sin": 0.20},
    "권": {"Kwon": 0.85, "Gwon": 0.15},
    "황": {"Hwang": 1.0},
    "안": {"Ahn": 0.60, "An": 0.40},
    "송": {"Song": 1.0},
    "전": {"Jeon": 0.50, "Jun": 0.25, "Chon": 0.15, "Chun": 0.10},
    "홍": {"Hong": 1.0},
    "유": {"Yoo": 0.50, "Yu": 0.40, "Ryu": 0.10},
    "류": {"Ryu": 0.65, "Rhyu": 0.10, "Yu": 0.15, "Lyu": 0.10},
    "고": {"Ko": 0.75, "Go": 0.25},
    "문": {"Moon": 0.70, "Mun": 0.30},
    "양": {"Yang": 0.95, "Ryang": 0.05},
    "량": {"Ryang": 0.60, "Yang": 0.40},
    "손": {"Son": 0.60, "Sohn": 0.40},
    "배": {"Bae": 0.80, "Pae": 0.20},
    "백": {"Baek": 0.50, "Paek": 0.30, "Paik": 0.20},
    "허": {"Heo": 0.40, "Hur": 0.30, "Huh": 0.20, "Ho": 0.10},
    "남": {"Nam": 1.0},
    "심": {"Shim": 0.65, "Sim": 0.35},
    "노": {"Noh": 0.50, "No": 0.30, "Roh": 0.20},
    "로": {"Ro": 0.60, "Roh": 0.30, "Noh": 0.10},
    "하": {"Ha": 1.0},
    "곽": {"Kwak": 0.85, "Gwak": 0.15},
    "성": {"Sung": 0.60, "Seong": 0.30, "Song": 0.10},
    "차": {"Cha": 1.0},
    "주": {"Joo": 0.50, "Ju": 0.35, "Chu": 0.15},
    "우": {"Woo": 0.80, "U": 0.20},
    "구": {"Koo": 0.50, "Gu": 0.30, "Ku": 0.20},
    "민": {"Min": 1.0},
    "나": {"Na": 0.85, "Ra": 0.15},
    "라": {"Ra": 0.60, "La": 0.20, "Na": 0.20},
    "진": {"Jin": 0.80, "Chin": 0.20},
    "지": {"Ji": 0.75, "Chi": 0.25},
    "엄": {"Eom": 0.40, "Um": 0.40, "Uhm": 0.20},
    "채": {"Chae": 1.0},
    "원": {"Won": 1.0},
    "천": {"Cheon": 0.50, "Chun": 0.40, "Chon": 0.10},
    "방": {"Bang": 0.80, "Pang": 0.20},
    "공": {"Kong": 0.85, "Gong": 0.15},
    "현": {"Hyun": 0.70, "Hyeon": 0.30},
    "함": {"Ham": 1.0},
    "염": {"Yeom": 0.50, "Yum": 0.40, "Ryom": 0.10},
    "렴": {"Ryom": 0.60, "Yeom": 0.20, "Yum": 0.20},
    "여": {"Yeo": 0.60, "Yuh": 0.30, "Ryo": 0.10},
    "려": {"Ryo": 0.60, "Yeo": 0.30, "Ryeo": 0.10},
    "남궁": {"Namgung": 0.50, "Namkung": 0.30, "Namgoong": 0.20},
}
_MR_SURNAME_EXCEPTIONS = {"이": "Yi", "리": "Ri", "임": "Im", "오": "O", "우": "U", "유": "Yu"}


def _rr_syllable(ch: str) -> str:
    cho, jung, jong = decompose(ch)
    return _RR_CHO[cho] + _RR_JUNG[jung] + _JONG_LATIN[jong]


def romanize_rr(text: str) -> str:
    """Revised Romanization, syllable by syllable as for personal names (no sound changes
    across syllables): 영철 → yeongcheol."""
    return "".join(_rr_syllable(ch) for ch in text)


def _mr_syllables(text: str, diacritics: bool) -> list[str]:
    out = []
    prev_jong: int | None = None  # None: start of the word
    for ch in text:
        cho, jung, jong = decompose(ch)
        if prev_jong is not None and prev_jong in _SONORANT_FINALS and cho in _MR_VOICED:
            initial = _MR_VOICED[cho]
        elif cho == _SIOT and jung in _SI:
            initial = "sh"
        else:
            initial = _MR_CHO[cho]
        syllable = initial + _MR_JUNG[jung] + _JONG_LATIN[jong]
        if not diacritics:
            syllable = syllable.replace("ŏ", "o").replace("ŭ", "u").replace("'", "")
        out.append(syllable)
        prev_jong = jong
    return out


def romanize_mr(text: str, *, diacritics: bool = True) -> str:
    """McCune-Reischauer: ㄱㄷㅂㅈ voiced between voiced sounds, aspirates with an apostrophe,
    ŏ and ŭ (without diacritics, as usually typed: o and u, no apostrophes): 영철 → yŏngch'ŏl
    or yongchol."""
    return "".join(_mr_syllables(text, diacritics))


def _popular_syllable(ch: str, first: bool, rng: random.Random) -> str:
    cho, jung, jong = decompose(ch)
    c, v, f = _RR_CHO[cho], _RR_JUNG[jung], _JONG_LATIN[jong]
    if c == "g" and rng.random() < (0.7 if first else 0.4):
        c = "k"
    elif c == "j" and rng.random() < 0.15:
        c = "ch"
    elif c == "b" and rng.random() < 0.15:
        c = "p"
    if cho == _SIOT and jung in _SI:
        c = "sh"
    if v == "eo":
        v = _pick(rng, {"u": 0.6, "eo": 0.3, "o": 0.1})
    elif v == "yeo":
        if c == "" and f == "ng":
            v = _pick(rng, {"you": 0.6, "yeo": 0.3, "yo": 0.1})
        else:
            v = _pick(rng, {"yu": 0.5, "yeo": 0.3, "yo": 0.2})
    elif v == "u":
        v = _pick(rng, {"oo": 0.5, "u": 0.5})
    elif v == "eu":
        v = _pick(rng, {"eu": 0.6, "u": 0.4})
    elif v == "ui":
        v = _pick(rng, {"ee": 0.8, "ui": 0.2} if c == "h" else {"ui": 0.6, "eui": 0.4})
    elif v == "i" and not f and c in ("h", "j", "s", "sh"):
        v = _pick(rng, {"ee": 0.6, "i": 0.4})
    return c + v + f


def romanize_popular(text: str, rng: random.Random) -> str:
    """Customary spellings as people write their own names: 영철 → young chul, 정희 → jung hee
    (one of several; drawn per syllable)."""
    return "".join(_popular_syllable(ch, i == 0, rng) for i, ch in enumerate(text))


def _romanize_surname(surname: str, scheme: str, rng: random.Random) -> str:
    if scheme == "rr" and rng.random() < 0.3:
        return romanize_rr(surname).capitalize()  # strict RR: Gim, I, Bak, Choe
    if scheme in ("mr", "mr_plain") and rng.random() < 0.5:
        if surname in _MR_SURNAME_EXCEPTIONS:
            return _MR_SURNAME_EXCEPTIONS[surname]
        return romanize_mr(surname, diacritics=scheme == "mr").capitalize()
    table = SURNAME_LATIN.get(surname)
    if table is None:
        return romanize_rr(surname).capitalize()
    return _pick(rng, table)


def romanize_name(surname: str, given: str, scheme: str, rng: random.Random) -> tuple[str, bool]:
    """A Latin-letter rendering of a Hangul name in one scheme, with a drawn layout (given
    name joined/hyphenated/spaced, order, capitalisation). Returns (text, family_name_last)."""
    if scheme == "rr":
        syllables = [_rr_syllable(ch) for ch in given]
    elif scheme in ("mr", "mr_plain"):
        syllables = _mr_syllables(given, diacritics=scheme == "mr")
    else:
        syllables = [_popular_syllable(ch, i == 0, rng) for i, ch in enumerate(given)]
    join = _pick(rng, GIVEN_JOIN_WEIGHTS)
    if join == " ":
        given_latin = " ".join(s.capitalize() for s in syllables)
    elif join == "-":
        rest = [s.capitalize() if rng.random() < 0.3 else s for s in syllables[1:]]
        given_latin = "-".join([syllables[0].capitalize(), *rest])
    else:
        given_latin = "".join(syllables).capitalize()
    sur = _romanize_surname(surname, scheme, rng)
    case = _pick(rng, CASE_WEIGHTS)
    if case == "surname_upper":
        sur = sur.upper()
    last = rng.random() < FAMILY_NAME_LAST_RATE
    text = f"{given_latin} {sur}" if last else f"{sur} {given_latin}"
    if case == "upper":
        text = text.upper()
    elif case == "lower":
        text = text.lower()
    return text, last


# ============================================================================ typos

# Jamo likely to replace one another: neighbours on the standard 2-set keyboard, the shift
# key (plain/tense, ㅐ/ㅒ), and sounds easily misheard (ㅐ/ㅔ, ㅓ/ㅕ, ㅚ/ㅙ/ㅞ, ㄴ/ㅇ/ㅁ final).
_NEAR: dict[str, str] = {
    "ㄱ": "ㄷㅅㄲㅋ", "ㄲ": "ㄱ", "ㄴ": "ㅁㅇㄹ", "ㄷ": "ㅈㄱㄸㅌ", "ㄸ": "ㄷ", "ㄹ": "ㅇㅎㄴ",
    "ㅁ": "ㄴㅂ", "ㅂ": "ㅈㅃㅍㅁ", "ㅃ": "ㅂ", "ㅅ": "ㄱㅆ", "ㅆ": "ㅅ", "ㅇ": "ㄴㄹㅎ",
    "ㅈ": "ㅂㄷㅉㅊ", "ㅉ": "ㅈ", "ㅊ": "ㅌㅍㅈ", "ㅋ": "ㅌㄱ", "ㅌ": "ㅋㅊㄷ", "ㅍ": "ㅊㅂ",
    "ㅎ": "ㄹㅇ",
    "ㅏ": "ㅓㅣㅑ", "ㅐ": "ㅔㅑㅒ", "ㅑ": "ㅕㅐㅏ", "ㅒ": "ㅐㅖ", "ㅓ": "ㅗㅏㅕ", "ㅔ": "ㅐㅖ",
    "ㅕ": "ㅛㅑㅓ", "ㅖ": "ㅔㅒ", "ㅗ": "ㅓㅛ", "ㅘ": "ㅙㅝ", "ㅙ": "ㅚㅞ", "ㅚ": "ㅙㅞ",
    "ㅛ": "ㅕㅗ", "ㅜ": "ㅠㅡ", "ㅝ": "ㅘㅞ", "ㅞ": "ㅚㅙ", "ㅟ": "ㅢ", "ㅠ": "ㅜ",
    "ㅡ": "ㅜㅓ", "ㅢ": "ㅟㅣ", "ㅣ": "ㅏㅢ",
}  # fmt: skip
_QWERTY_NEAR: dict[str, str] = {
    "a": "sqz", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj",
    "i": "uo", "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o",
    "q": "w", "r": "et", "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc",
    "y": "tu", "z": "x",
}  # fmt: skip


def typo_hangul(text: str, rng: random.Random) -> str:
    """One jamo substituted, dropped (a final consonant) or swapped with the adjacent jamo
    (final of one syllable with the initial of the next, as a transposed keystroke)."""
    chars = list(text)
    positions = [i for i, ch in enumerate(chars) if is_syllable(ch)]
    if not positions:
        return text
    ops = ["substitute"]
    with_final = [i for i in positions if decompose(chars[i])[2]]
    if with_final:
        ops.append("drop")
    swaps = []
    for i, j in itertools.pairwise(positions):
        if j != i + 1:
            continue
        final = JONG[decompose(chars[i])[2]]
        initial = CHO[decompose(chars[j])[0]]
        if final and final in CHO and initial in JONG and final != initial:
            swaps.append(i)
    if swaps:
        ops.append("swap")
    op = rng.choice(ops)
    if op == "drop":
        i = rng.choice(with_final)
        cho, jung, _ = decompose(chars[i])
        chars[i] = compose(cho, jung)
    elif op == "swap":
        i = rng.choice(swaps)
        cho1, jung1, jong1 = decompose(chars[i])
        cho2, jung2, jong2 = decompose(chars[i + 1])
        new_final, new_initial = JONG.index(CHO[cho2]), CHO.index(JONG[jong1])
        chars[i] = compose(cho1, jung1, new_final)
        chars[i + 1] = compose(new_initial, jung2, jong2)
    else:
        i = rng.choice(positions)
        cho, jung, jong = decompose(chars[i])
        slot = rng.choice(["cho", "jung", "jong"] if jong else ["cho", "jung"])
        if slot == "cho":
            cho = CHO.index(rng.choice(_NEAR[CHO[cho]]))
        elif slot == "jung":
            jung = JUNG.index(rng.choice(_NEAR[JUNG[jung]]))
        else:
            options = [j for j in _NEAR.get(JONG[jong], "") if j in JONG] or ["ㄴ", "ㅇ"]
            options = [j for j in options if j != JONG[jong]] or ["ㅁ"]
            jong = JONG.index(rng.choice(options))
        chars[i] = compose(cho, jung, jong)
    return "".join(chars)


def typo_latin(text: str, rng: random.Random) -> str:
    """One letter substituted (keyboard neighbour), dropped, doubled, or transposed with
    the next letter."""
    positions = [i for i, ch in enumerate(text) if ch.isalpha()]
    if not positions:
        return text
    i = rng.choice(positions)
    op = rng.choice(["substitute", "drop", "double", "transpose"])
    ch = text[i]
    if op == "substitute":
        near = _QWERTY_NEAR.get(ch.lower())
        if near is None:  # a letter with a diacritic: lose it
            new = {"ŏ": "o", "ŭ": "u", "Ŏ": "O", "Ŭ": "U"}.get(ch, "a")
        else:
            new = rng.choice(near)
            new = new.upper() if ch.isupper() else new
        return text[:i] + new + text[i + 1 :]
    if op == "drop" and len(positions) > 2:
        return text[:i] + text[i + 1 :]
    if op == "transpose" and i + 1 < len(text) and text[i + 1].isalpha() and text[i + 1] != ch:
        return text[:i] + text[i + 1] + ch + text[i + 2 :]
    return text[:i] + ch + text[i:]


# ======================================================================= generation


def _pick(rng: random.Random, weights: Mapping[T, float]) -> T:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


class _Sampler:
    """Weighted choice with the cumulative weights computed once."""

    def __init__(self, weights: dict[str, float] | dict[str, int] | Sequence[tuple[str, float]]):
        items = list(weights.items()) if isinstance(weights, dict) else list(weights)
        self.keys = [k for k, _ in items]
        self.cum = list(itertools.accumulate(float(w) for _, w in items))

    def __call__(self, rng: random.Random) -> str:
        return rng.choices(self.keys, cum_weights=self.cum)[0]


_SURNAME = _Sampler(SURNAMES)
_FIRST = {sex: _Sampler(w) for sex, w in GIVEN_FIRST.items()}
_SECOND = {sex: _Sampler(w) for sex, w in GIVEN_SECOND.items()}
_PROVINCE = _Sampler(PROVINCE_WEIGHTS)
_ORG_KEYS = list(ORGANISATIONS)


def surname_shares() -> dict[str, float]:
    """The table's shares normalised to sum to 1, keyed by etymological spelling."""
    total = sum(w for _, w in SURNAMES)
    return {s: w / total for s, w in SURNAMES}


def _given_name(rng: random.Random, sex: str) -> str:
    first = _FIRST[sex](rng)
    second = _SECOND[sex](rng)
    while second == first:
        second = _SECOND[sex](rng)
    return first + second


def _new_given_name(rng: random.Random, sex: str, old: str) -> str:
    while True:
        name = rng.choice(NEW_GIVEN_FIRST[sex]) + rng.choice(NEW_GIVEN_SECOND[sex])
        if name[0] != name[1] and name != old and to_south(name) != to_south(old):
            return name


def _years(rng: random.Random) -> tuple[int, int]:
    departure = _pick(rng, DEPARTURE_YEAR_WEIGHTS)
    lo, hi = BIRTH_YEAR_RANGE
    while True:
        band = _pick(rng, AGE_AT_DEPARTURE_WEIGHTS)
        birth = departure - rng.randint(*band)
        if lo <= birth <= hi:
            return birth, departure


def make_person(rng: random.Random, person_id: str) -> Person:
    sex = "female" if rng.random() < FEMALE_RATE else "male"
    birth, departure = _years(rng)
    return Person(
        person_id=person_id,
        surname_north=_SURNAME(rng),
        given_north=_given_name(rng, sex),
        north_habit=rng.random() < NORTH_HABIT_RATE,
        sex=sex,
        birth_year=birth,
        province_of_origin=_PROVINCE(rng),
        departure_year=departure,
    )


def record_interview(
    rng: random.Random, person: Person, interview_id: str, organisation: str, *, later: bool
) -> Interview:
    """One interview of `person` as recorded, with independent variation. `later`: not the
    person's first interview (a changed name shows from the second interview on)."""
    variants: list[str] = []
    name: str | None
    surname_north, given_north = person.surname_north, person.given_north
    if later and person.new_given_name is not None:
        given_north = person.new_given_name
        variants.append("name_changed")
    if rng.random() < NAME_MISSING_RATE:
        name = None
        variants.append("name_missing")
    elif rng.random() < ROMANIZED_RATE:
        surname = surname_north if person.north_habit else to_south(surname_north)
        given = given_north if person.north_habit else to_south(given_north)
        scheme = _pick(rng, ROMANIZATION_SCHEMES)
        name, last = romanize_name(surname, given, scheme, rng)
        variants.append(f"romanized:{scheme}")
        if last:
            variants.append("family_name_last")
        if rng.random() < TYPO_RATE:
            name = typo_latin(name, rng)
            variants.append("typo")
    else:
        north = person.north_habit
        if has_two_spellings(surname_north, given_north) and rng.random() < NORTH_SOUTH_RATE:
            north = not north
            variants.append("north_south")
        surname = surname_north if north else to_south(surname_north)
        name = surname + (given_north if north else to_south(given_north))
        if rng.random() < TYPO_RATE:
            name = typo_hangul(name, rng)
            variants.append("typo")
        if rng.random() < HANGUL_SPACING_RATE:
            name = name[: len(surname)] + " " + name[len(surname) :]
            variants.append("hangul_spacing")
    birth = person.birth_year
    if rng.random() < BIRTH_YEAR_OFF_RATE:
        step = rng.choice((-1, 1))
        if birth + step > person.departure_year:  # left as a baby: never born after leaving
            step = -1
        birth += step
        variants.append("birth_year_off")
    departure = person.departure_year
    if rng.random() < DEPARTURE_YEAR_OFF_RATE:
        step = rng.choice((-1, 1))
        if departure + step < birth or departure + step > max(DEPARTURE_YEAR_WEIGHTS):
            step = -step
        departure += step
        variants.append("departure_year_off")
    province = person.province_of_origin
    if rng.random() < PROVINCE_ALT_RATE:
        alternatives = PROVINCE_ALTERNATIVES[province]
        province = alternatives[0] if rng.random() < 0.75 else rng.choice(alternatives)
        variants.append("province_alt")
    return Interview(
        interview_id=interview_id,
        person_id=person.person_id,
        organisation=organisation,
        respondent_name=name,
        sex=person.sex,
        birth_year=birth,
        province_of_origin=province,
        departure_year=departure,
        variants=tuple(variants),
    )


def generate(size: int = 20_000, duplicates: float = 0.10, seed: int = 1) -> Population:
    """`size` persons, of whom round(size * duplicates) are interviewed more than once (a
    THRICE_SHARE of those three times), each time by a different organisation. Interviews
    are shuffled and numbered, so an id says nothing about its person."""
    if size < 0 or not 0 <= duplicates <= 1:
        raise ValueError("size must be >= 0 and duplicates within [0, 1]")
    rng = random.Random(seed)
    width = max(6, len(str(size)))
    persons = [make_person(rng, f"p-{i:0{width}d}") for i in range(1, size + 1)]
    repeated = sorted(rng.sample(range(size), round(size * duplicates)))
    counts = [1] * size
    for i in repeated:
        counts[i] = 3 if rng.random() < THRICE_SHARE else 2
        if rng.random() < NAME_CHANGE_RATE:
            p = persons[i]
            new = _new_given_name(rng, p.sex, p.given_north)
            persons[i] = replace(p, new_given_name=new)
    org_cum = list(itertools.accumulate(ORGANISATIONS.values()))
    drafts: list[tuple[Person, str, bool]] = []
    for person, count in zip(persons, counts, strict=True):
        orgs: list[str] = []
        while len(orgs) < count:
            org = rng.choices(_ORG_KEYS, cum_weights=org_cum)[0]
            if org not in orgs:
                orgs.append(org)
        drafts.extend((person, org, k > 0) for k, org in enumerate(orgs))
    rng.shuffle(drafts)
    iwidth = max(6, len(str(len(drafts))))
    interviews = [
        record_interview(rng, person, f"i-{n:0{iwidth}d}", org, later=later)
        for n, (person, org, later) in enumerate(drafts, start=1)
    ]
    return Population(seed=seed, duplicates=duplicates, persons=persons, interviews=interviews)


# ===================================================================== ground truth


def pairs_truth(interviews: Iterable[Interview]) -> set[frozenset[str]]:
    """Every pair of interviews of the same person: the true duplicate pairs."""
    by_person: dict[str, list[str]] = defaultdict(list)
    for iv in interviews:
        by_person[iv.person_id].append(iv.interview_id)
    return {
        frozenset(pair)
        for ids in by_person.values()
        for pair in itertools.combinations(sorted(ids), 2)
    }


def _pairs_sharing(keys: Iterable[tuple[object, str]]) -> int:
    """Pairs of DIFFERENT persons sharing a key; `keys` yields (key, person_id)."""
    groups: dict[object, Counter[str]] = defaultdict(Counter)
    for key, pid in keys:
        groups[key][pid] += 1
    total = 0
    for per_person in groups.values():
        n = sum(per_person.values())
        total += n * (n - 1) // 2 - sum(c * (c - 1) // 2 for c in per_person.values())
    return total


def summary(pop: Population) -> dict[str, object]:
    """Counts and the collisions that make precision hard."""
    per_person = Counter(iv.person_id for iv in pop.interviews)
    variant_counts = Counter(v for iv in pop.interviews for v in iv.variants)
    named = [iv for iv in pop.interviews if iv.respondent_name is not None]
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": pop.seed,
        "duplicates": pop.duplicates,
        "persons": len(pop.persons),
        "interviews": len(pop.interviews),
        "persons_interviewed_twice": sum(1 for c in per_person.values() if c == 2),
        "persons_interviewed_thrice": sum(1 for c in per_person.values() if c == 3),
        "true_pairs": len(pairs_truth(pop.interviews)),
        "female_share": round(
            sum(p.sex == "female" for p in pop.persons) / max(1, len(pop.persons)), 4
        ),
        # different persons with the same true (habitual) name, sex and birth year
        "person_pairs_same_name_sex_birth_year": _pairs_sharing(
            ((p.name, p.sex, p.birth_year), p.person_id) for p in pop.persons
        ),
        # interviews of different persons recorded identically on name, sex, birth year
        "interview_pairs_different_persons_same_name_sex_birth_year": _pairs_sharing(
            ((iv.respondent_name, iv.sex, iv.birth_year), iv.person_id) for iv in named
        ),
        # ... and on all five identity answers
        "interview_pairs_different_persons_same_all_fields": _pairs_sharing(
            (
                (
                    iv.respondent_name,
                    iv.sex,
                    iv.birth_year,
                    iv.province_of_origin,
                    iv.departure_year,
                ),
                iv.person_id,
            )
            for iv in named
        ),
        "variants": {k: variant_counts.get(k, 0) for k in VARIANT_KINDS},
    }


# ============================================================================== CLI


def write(pop: Population, out: Path, truth: Path) -> None:
    with out.open("w", encoding="utf-8") as f:
        for iv in pop.interviews:
            f.write(json.dumps(iv.record(), ensure_ascii=False) + "\n")
    with truth.open("w", encoding="utf-8") as f:
        for iv in pop.interviews:
            f.write(json.dumps(iv.truth(), ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20_000, help="number of persons")
    parser.add_argument("--duplicates", type=float, default=0.10, help="share interviewed again")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True, help="interviews, JSONL")
    parser.add_argument("--truth", type=Path, help="ground truth, JSONL (default: beside --out)")
    args = parser.parse_args(argv)
    truth = args.truth or args.out.with_name(args.out.name.removesuffix(".jsonl") + ".truth.jsonl")
    pop = generate(args.size, args.duplicates, args.seed)
    write(pop, args.out, truth)
    json.dump({**summary(pop), "out": str(args.out), "truth": str(truth)}, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
