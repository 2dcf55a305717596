"""The surname tables (docs/spec/identity-normalisation.md §6.3, table 6.3).

Korean surnames in approximate order of frequency, each with its folded Hangul form
(§5: 리 and 이 are one entry, 이) and the romanized spellings it is written in: RR,
McCune-Reischauer with breves and apostrophes stripped, and the customary spellings of
passports and visas. Frequencies and spellings are public knowledge (South Korean census
rankings, common usage); verify before relying on them for anything but this order.

A spelling belongs to one surname only. Where two surnames share a customary spelling,
the commoner one has it (``chun`` → 전, not 천; ``song`` → 송, not 성; ``so`` → 서, not
소); the skeleton (§8) still brings the other close.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = [
    "ALSO_GIVEN_NAMES",
    "HANGUL_RANK",
    "LATIN_SURNAMES",
    "SURNAMES",
    "TWO_SYLLABLE_SURNAMES",
]

#: (folded Hangul surname, romanized spellings), commonest first.
SURNAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("김", ("kim", "gim", "ghim")),
    ("이", ("lee", "yi", "rhee", "ri", "i", "rhie", "li", "ree", "rie", "yee")),
    ("박", ("park", "pak", "bak", "bahk")),
    ("최", ("choi", "choe", "chwe", "choy")),
    ("정", ("jung", "jeong", "chung", "chong", "jong", "joung", "cheong")),
    ("강", ("kang", "gang", "kahng")),
    ("조", ("cho", "jo", "joe", "tcho")),
    ("윤", ("yoon", "yun", "youn", "yune")),
    ("장", ("jang", "chang", "zhang", "jhang")),
    ("임", ("lim", "im", "rim", "yim", "leem", "rhim", "lym")),
    ("한", ("han", "hahn")),
    ("오", ("oh", "o")),
    ("서", ("seo", "suh", "so", "sur")),
    ("신", ("shin", "sin", "shinn")),
    ("권", ("kwon", "gwon", "kweon", "kwun")),
    ("황", ("hwang", "whang")),
    ("안", ("ahn", "an", "ann")),
    ("송", ("song", "soung", "soong")),
    ("전", ("jeon", "chon", "jun", "chun", "jeun")),
    ("홍", ("hong",)),
    ("유", ("ryu", "yoo", "yu", "ryoo", "you", "lyu")),
    ("고", ("ko", "go", "koh", "goh")),
    ("문", ("moon", "mun", "moun")),
    ("양", ("yang", "ryang", "lyang")),
    ("손", ("son", "sohn", "shon")),
    ("배", ("bae", "pae", "bai", "pai")),
    ("백", ("baek", "paek", "paik", "baik", "back")),
    ("허", ("heo", "hur", "huh", "her", "ho")),
    ("남", ("nam",)),
    ("심", ("shim", "sim", "sym")),
    ("노", ("noh", "no", "roh", "ro", "nho", "rho")),
    ("하", ("ha", "hah")),
    ("곽", ("kwak", "gwak", "kwack")),
    ("성", ("sung", "seong")),
    ("차", ("cha",)),
    ("주", ("joo", "ju", "chu", "jou")),
    ("우", ("woo", "u", "wu")),
    ("구", ("koo", "ku", "gu", "goo")),
    ("나", ("na", "ra", "rah", "nah")),
    ("민", ("min",)),
    ("진", ("jin", "chin")),
    ("지", ("ji", "chi", "jee")),
    ("엄", ("um", "eom", "uhm", "om")),
    ("채", ("chae", "chai", "chea")),
    ("원", ("won", "weon", "woon")),
    ("천", ("cheon",)),
    ("방", ("bang", "pang")),
    ("공", ("kong", "gong")),
    ("현", ("hyun", "hyeon", "hyon")),
    ("함", ("ham", "hahm")),
    ("변", ("byun", "byeon", "pyon", "byon", "pyun")),
    ("염", ("yeom", "yum", "youm", "yom", "ryom", "ryeom")),
    ("여", ("yeo", "yo", "ryo", "yeoh", "ryeo")),
    ("추", ("choo",)),
    ("도", ("do", "doh", "to", "toh")),
    ("석", ("seok", "suk", "sok")),
    ("선", ("sun", "seon")),
    ("설", ("seol", "sul", "sol")),
    ("마", ("ma",)),
    ("길", ("gil", "kil")),
    ("연", ("yeon", "yon", "ryon")),
    ("위", ("wi", "wee")),
    ("표", ("pyo", "pyoh")),
    ("명", ("myung", "myeong", "myong")),
    ("기", ("ki", "gi", "kee")),
    ("반", ("ban", "pan")),
    ("왕", ("wang",)),
    ("금", ("keum", "kum", "geum", "kuem")),
    ("옥", ("ok", "ock")),
    ("육", ("yuk", "yook", "ryuk")),
    ("인", ("in", "yin")),
    ("맹", ("maeng", "meng")),
    ("제", ("je",)),
    ("모", ("mo",)),
    ("탁", ("tak", "tahk")),
    ("국", ("kook", "kuk", "guk")),
    ("어", ("eo", "uh")),
    ("은", ("eun", "un")),
    ("용", ("yong", "ryong")),
    ("경", ("kyung", "kyeong", "gyeong", "kyong")),
    ("봉", ("bong", "pong")),
    ("사", ("sa",)),
    ("부", ("boo", "bu", "pu")),
    ("남궁", ("namgung", "namkung", "namkoong")),
    ("황보", ("hwangbo", "whangbo", "hwangpo")),
    ("제갈", ("jegal", "chegal", "jekal")),
    ("선우", ("sunwoo", "seonu", "sonu", "seonwoo", "sunwu")),
    ("독고", ("dokgo", "tokko", "dokko", "tokgo")),
    ("사공", ("sagong", "sakong")),
    ("서문", ("seomun", "somun", "seomoon", "suhmoon")),
    ("동방", ("dongbang", "tongbang")),
)

#: Two-syllable surnames, recognised at the start of an unspaced Hangul name (§6.1).
TWO_SYLLABLE_SURNAMES = frozenset(h for h, _ in SURNAMES if len(h) == 2)

#: Folded Hangul surname → rank (0 = commonest).
HANGUL_RANK = MappingProxyType({h: i for i, (h, _) in enumerate(SURNAMES)})

#: Two-syllable surnames that are also common given names: they keep their rank (§6.2).
ALSO_GIVEN_NAMES = frozenset({"선우"})


def _precedence(hangul: str, rank: int) -> int:
    """§6.2: two-syllable surnames come before every one-syllable one (nobody's given name
    is Namgung or Hwangbo), except those that are also given names; then the rank."""
    return -1 if len(hangul) == 2 and hangul not in ALSO_GIVEN_NAMES else rank


#: Romanized spelling (a-z) → (folded Hangul surname, precedence for §6.2, lower first).
LATIN_SURNAMES = MappingProxyType(
    {v: (h, _precedence(h, i)) for i, (h, variants) in enumerate(SURNAMES) for v in variants}
)


def _check() -> None:
    seen: dict[str, str] = {}
    for h, variants in SURNAMES:
        for v in variants:
            if v in seen:  # pragma: no cover - a table error, caught on import
                raise AssertionError(f"surname spelling {v!r} listed for {seen[v]} and {h}")
            seen[v] = h


_check()
