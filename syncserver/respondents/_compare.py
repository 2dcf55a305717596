"""Comparison levels and Fellegi-Sunter weights (docs/spec/respondent-matching.md §5, §7).

:func:`compare` puts a new interview (its :class:`~._tokens.Probe`) beside a stored one
(its :class:`~._tokens.StoredTokens`) and says how far they agree, as two comparisons:
the name, joint over surname and given name, and the demographics, joint over sex,
birth year, departure year and province. :func:`match_weight` turns that into a log2
likelihood ratio with the :class:`~._weights.Weights`, adjusted for how common the
agreeing value is (term frequency).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal, get_args

from ._pseudonyms import Probe, ProvinceLevel, StoredTokens
from ._weights import Weights

__all__ = [
    "NAME_LEVELS",
    "STRONG_NAME_LEVELS",
    "TF_NAME_LEVELS",
    "Comparison",
    "NameLevel",
    "compare",
    "match_weight",
]

NameLevel = Literal[
    "exact", "folded", "skeleton", "typo", "surname", "given", "different", "missing"
]
NAME_LEVELS: Final[tuple[NameLevel, ...]] = get_args(NameLevel)
#: Name levels that can support an automatic link (§8): the whole name agrees.
STRONG_NAME_LEVELS: Final = frozenset({"exact", "folded", "skeleton", "typo"})
#: Name levels whose weight uses how common the name is (§7.3).
TF_NAME_LEVELS: Final = frozenset({"exact", "folded", "skeleton"})


@dataclass(frozen=True, slots=True)
class Comparison:
    """How a probe and a stored interview agree. ``demo`` is the (birth-year distance,
    departure-year distance, province level) when the demographics are near, else
    None; ``demo_state`` says which: near, far, or missing on either side."""

    name: NameLevel
    demo_state: Literal["near", "far", "missing"]
    demo: tuple[int, int, ProvinceLevel] | None = None

    @property
    def code(self) -> str:
        """Compact text kept with links and review items: ``folded/0/1/same``,
        ``surname/far``, ``missing/missing``. Names no value, only levels."""
        if self.demo is None:
            return f"{self.name}/{self.demo_state}"
        by, dy, pr = self.demo
        return f"{self.name}/{by}/{dy}/{pr}"

    @classmethod
    def parse(cls, code: str) -> Comparison:
        """The inverse of :attr:`code`; ValueError for anything else."""
        parts = code.split("/")
        if parts[0] not in NAME_LEVELS:
            raise ValueError("unknown name level")
        name: NameLevel = parts[0]
        if len(parts) == 2 and parts[1] in ("far", "missing"):
            return cls(name, parts[1])  # type: ignore[arg-type]
        if len(parts) == 4 and parts[3] in get_args(ProvinceLevel):
            by, dy = int(parts[1]), int(parts[2])
            if 0 <= by <= 2 and 0 <= dy <= 2:
                return cls(name, "near", (by, dy, parts[3]))  # type: ignore[arg-type]
        raise ValueError("not a comparison code")


def _name_level(probe: Probe, s: StoredTokens) -> NameLevel:
    p = probe.tokens
    if not p.named or not s.named:
        return "missing"
    if p.exact == s.exact:
        return "exact"
    if p.folded == s.folded:
        return "folded"
    if s.skeleton in probe.skeleton_matches:
        return "skeleton"
    if s.letters in probe.letters_variants:
        return "typo"
    if p.surname == s.surname:
        return "surname"
    if p.given is not None and p.given == s.given:
        return "given"
    return "different"


def compare(probe: Probe, stored: StoredTokens) -> Comparison:
    """The comparison levels of ``probe`` against ``stored`` (§5)."""
    name = _name_level(probe, stored)
    if stored.demo is None or not probe.demo_levels:
        return Comparison(name, "missing")
    near = probe.demo_levels.get(stored.demo)
    if near is None:
        return Comparison(name, "far")
    return Comparison(name, "near", near)


def _log2(m: float, u: float) -> float:
    return math.log2(m / u)


def match_weight(
    c: Comparison,
    w: Weights,
    *,
    n: int = 0,
    folded_count: int | None = None,
    demo_count: int | None = None,
    surname_share: float | None = None,
) -> float:
    """The match weight in bits (§7): log2 m/u of the name level plus that of the
    demographics, adjusted for how common the agreeing values are (§7.3).

    ``n`` is the number of interviews in the store; ``folded_count`` how many of them,
    other than the probe and the candidate, have the probe's or the candidate's folded
    name (the larger count); ``demo_count`` how many others have the candidate's exact
    demographics; ``surname_share`` the probe surname's share of the population. A count
    is shrunk towards the average frequency with ``tf.prior_strength`` pseudo-interviews,
    so a small store does not make every name look rare or common."""
    tf = w.tf
    lw = w.name[c.name]
    if c.name in TF_NAME_LEVELS and folded_count is not None:
        avg = w.name.exact.u + w.name.folded.u
        freq = (folded_count + tf.prior_strength * avg) / (n + tf.prior_strength)
        score = _log2(lw.m, max(freq, tf.name_floor))
    elif c.name == "surname" and surname_share is not None:
        score = _log2(lw.m, max(surname_share, tf.name_floor))
    else:
        score = _log2(lw.m, lw.u)
    if c.demo is None:
        d = w.demographics.far if c.demo_state == "far" else w.demographics.missing
        return score + _log2(d.m, d.u)
    by, dy, pr = c.demo
    b, y, p, s = w.birth_year[by], w.departure_year[dy], w.province[pr], w.demographics.near
    score += _log2(b.m, b.u) + _log2(y.m, y.u) + _log2(p.m, p.u) + _log2(s.m, s.u)
    if demo_count is not None:
        avg = w.birth_year[0].u * w.departure_year[0].u * w.province["same"].u * s.u
        freq = (demo_count + tf.prior_strength * avg) / (n + tf.prior_strength)
        score += max(-tf.demo_clamp, min(tf.demo_clamp, math.log2(avg / freq)))
    return score
