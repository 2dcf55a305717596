"""Matching weights: a versioned data file (docs/spec/respondent-matching.md §7, §9).

The Fellegi-Sunter m and u probabilities of every comparison level, the two decision
thresholds and the surname frequency table live in a TOML file, not in code:
``weights-v1.toml`` beside this module is what sealsync ships (estimated on a synthetic
population, see docs/dedup.md), and a project may use its own (``[respondents] weights``
in sealsync.toml) after re-estimating it from its reviewed pairs (:func:`estimate`).

A weights file is input from outside: :func:`load_weights` checks every number and
reports the first problem with its path, never a traceback.
"""

from __future__ import annotations

import math
import tomllib
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Annotated, Final

import msgspec

from ..errors import WeightsError

__all__ = [
    "MAX_WEIGHTS_BYTES",
    "LevelWeight",
    "Weights",
    "WeightsError",
    "default_weights",
    "estimate",
    "load_weights",
    "render_weights",
]

MAX_WEIGHTS_BYTES: Final = 256 * 1024

_Prob = Annotated[float, msgspec.Meta(gt=0.0, le=1.0)]


class LevelWeight(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """m: the share of true pairs at this level; u: the share of random pairs."""

    m: _Prob
    u: _Prob

    @property
    def bits(self) -> float:
        return math.log2(self.m / self.u)


class Thresholds(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Decision thresholds on the posterior log2 odds that a pair is one person (§8)."""

    auto_link: float
    review: float


class Prior(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The prior odds that a new interview and one stored interview are the same person
    (§7.4): ``duplicate_share / max(interviews in the store, population)``."""

    #: The share of interviews whose respondent was interviewed before.
    duplicate_share: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)]
    #: About how many people the interviews are drawn from: the prior does not grow as
    #: the store starts small.
    population: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)]

    def log2_odds(self, n: int) -> float:
        return math.log2(self.duplicate_share / max(n, self.population))


class NameWeights(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    exact: LevelWeight
    folded: LevelWeight
    skeleton: LevelWeight
    typo: LevelWeight
    surname: LevelWeight
    given: LevelWeight
    different: LevelWeight
    missing: LevelWeight

    def __getitem__(self, level: str) -> LevelWeight:
        result: LevelWeight = getattr(self, level)
        return result


class ProvinceWeights(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    same: LevelWeight
    compatible: LevelWeight
    unknown: LevelWeight

    def __getitem__(self, level: str) -> LevelWeight:
        result: LevelWeight = getattr(self, level)
        return result


class DemographicWeights(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: Near: same sex, years at most two apart, provinces compatible or one unknown. The
    #: levels of birth year, departure year and province then say how near (§7.2).
    near: LevelWeight
    #: Different sex, or a year more than two apart, or incompatible provinces.
    far: LevelWeight
    #: Sex, birth year or departure year not answered on either side.
    missing: LevelWeight


class TermFrequency(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: The smallest u a frequency-adjusted name level may use.
    name_floor: _Prob
    #: Pseudo-interviews at the average frequency added to every count (shrinkage).
    prior_strength: Annotated[float, msgspec.Meta(ge=0.0, le=1e9)]
    #: The largest shift, in bits, of the demographic frequency adjustment.
    demo_clamp: Annotated[float, msgspec.Meta(ge=0.0, le=16.0)]
    #: Counts of a token are read up to this many interviews (bounds the work).
    count_cap: Annotated[int, msgspec.Meta(ge=10, le=1_000_000)]
    #: The share of a surname missing from ``surname_share``.
    surname_default: _Prob


_Years = Annotated[tuple[LevelWeight, LevelWeight, LevelWeight], msgspec.Meta()]


class Weights(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything the matcher decides with (§7, §8)."""

    #: Increases with every change to a number in the file.
    version: Annotated[int, msgspec.Meta(ge=1)]
    #: The token version (normalisation) the levels were measured with.
    token_version: Annotated[int, msgspec.Meta(ge=1)]
    #: Where the numbers come from, for people.
    source: Annotated[str, msgspec.Meta(max_length=2000)]
    thresholds: Thresholds
    prior: Prior
    name: NameWeights
    #: Levels by distance in years: 0, 1, 2.
    birth_year: _Years
    departure_year: _Years
    province: ProvinceWeights
    demographics: DemographicWeights
    tf: TermFrequency
    #: Folded Hangul surname → share of the population (identity-normalisation.md §5).
    surname_share: dict[Annotated[str, msgspec.Meta(min_length=1, max_length=4)], _Prob]

    def __post_init__(self) -> None:
        if self.thresholds.review > self.thresholds.auto_link:
            raise ValueError("thresholds.review must not exceed thresholds.auto_link")

    def share_of(self, surname_folded: str) -> float:
        return self.surname_share.get(surname_folded, self.tf.surname_default)


def load_weights(path: Path) -> Weights:
    """Read and check a weights file; :class:`WeightsError` says what is wrong."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_WEIGHTS_BYTES + 1)
    except OSError as e:
        raise WeightsError(
            f"cannot read the weights file {path.name} ({e.strerror})",
            hint="check [respondents] weights in sealsync.toml",
        ) from None
    return _parse(data, path.name)


def _parse(data: bytes, name: str) -> Weights:
    hint = "compare it with syncserver/respondents/weights-v1.toml, or re-estimate it"
    if len(data) > MAX_WEIGHTS_BYTES:
        raise WeightsError(f"weights file {name} is larger than 256 KiB", hint=hint)
    try:
        raw = tomllib.loads(data.decode("utf-8"))
        return msgspec.convert(raw, Weights)
    except UnicodeDecodeError:
        raise WeightsError(f"weights file {name} is not UTF-8 text", hint=hint) from None
    except tomllib.TOMLDecodeError as e:
        raise WeightsError(f"weights file {name} is not TOML ({e})", hint=hint) from None
    except (msgspec.ValidationError, ValueError) as e:
        raise WeightsError(f"weights file {name}: {e}", hint=hint) from None


def default_weights() -> Weights:
    """The weights shipped with sealsync (``weights-v1.toml``)."""
    data = resources.files(__package__).joinpath("weights-v1.toml").read_bytes()
    return _parse(data, "weights-v1.toml")


# -- estimation (§9) ---------------------------------------------------------------------

_NAME_LEVELS = tuple(NameWeights.__struct_fields__)
_PROVINCE_LEVELS = tuple(ProvinceWeights.__struct_fields__)
_YEARS = ("0", "1", "2")
_DEMO = ("near", "far", "missing")
#: The smallest m estimation gives a level: a synthetic or small sample that never shows
#: true pairs at some level (demographics far apart, say) must not make it impossible.
M_FLOOR: Final = 0.001

Table = dict[str, dict[str, LevelWeight]]


def _table(w: Weights) -> Table:
    d = w.demographics
    return {
        "name": {lv: w.name[lv] for lv in _NAME_LEVELS},
        "birth_year": dict(zip(_YEARS, w.birth_year, strict=True)),
        "departure_year": dict(zip(_YEARS, w.departure_year, strict=True)),
        "province": {lv: w.province[lv] for lv in _PROVINCE_LEVELS},
        "demographics": {"near": d.near, "far": d.far, "missing": d.missing},
    }


def _tally(codes: Iterable[str]) -> dict[str, Counter[str]]:
    from ._compare import Comparison

    out: dict[str, Counter[str]] = {k: Counter() for k in _table_kinds()}
    for code in codes:
        c = Comparison.parse(code)
        out["name"][c.name] += 1
        out["demographics"][c.demo_state] += 1
        if c.demo is not None:
            out["birth_year"][str(c.demo[0])] += 1
            out["departure_year"][str(c.demo[1])] += 1
            out["province"][c.demo[2]] += 1
    return out


def _table_kinds() -> tuple[str, ...]:
    return ("name", "birth_year", "departure_year", "province", "demographics")


def _shares(
    counts: Counter[str], base: dict[str, float], keep: set[str], floor: float
) -> dict[str, float]:
    """Jeffreys-smoothed shares of ``counts``; ``keep`` levels hold their ``base`` share."""
    rest = [lv for lv in base if lv not in keep]
    total = sum(counts[lv] for lv in rest)
    if total == 0:
        return dict(base)
    mass = 1.0 - sum(base[lv] for lv in keep)
    out = {lv: base[lv] for lv in keep}
    for lv in rest:
        out[lv] = max(mass * (counts[lv] + 0.5) / (total + 0.5 * len(rest)), floor)
    return out


def estimate(
    base: Weights,
    matches: Iterable[str],
    non_matches: Iterable[str] | None = None,
    *,
    source: str,
) -> Weights:
    """New weights from the comparison codes (:attr:`Comparison.code`) of labelled pairs.

    ``matches`` are pairs known to be the same person (e.g. reviewed links): their level
    shares become the m probabilities. ``non_matches``, when given, must be *random* pairs
    of different people (reviewed near misses would make u far too large): their shares
    become the u probabilities; without them ``base``'s u are kept. Shares are smoothed
    (Jeffreys: half a pair more at every level), m is at least :data:`M_FLOOR`, and a level
    seen in neither sample keeps ``base``'s numbers, so it stays as informative as it was.
    Thresholds and frequency settings are kept; the version is ``base.version + 1``.
    """
    old = _table(base)
    m_counts = _tally(matches)
    u_counts = _tally(non_matches) if non_matches is not None else None
    new: Table = {}
    for kind, levels in old.items():
        mc = m_counts[kind]
        uc = u_counts[kind] if u_counts is not None else None
        keep = {lv for lv in levels if mc[lv] == 0 and (uc is None or uc[lv] == 0)}
        m = _shares(mc, {lv: x.m for lv, x in levels.items()}, keep, M_FLOOR)
        u = (
            _shares(uc, {lv: x.u for lv, x in levels.items()}, keep, 0.0)
            if uc is not None
            else {lv: x.u for lv, x in levels.items()}
        )
        new[kind] = {lv: LevelWeight(m=min(m[lv], 1.0), u=min(u[lv], 1.0)) for lv in levels}
    return msgspec.structs.replace(
        base,
        version=base.version + 1,
        source=source,
        name=NameWeights(**new["name"]),
        birth_year=tuple(new["birth_year"][y] for y in _YEARS),
        departure_year=tuple(new["departure_year"][y] for y in _YEARS),
        province=ProvinceWeights(**new["province"]),
        demographics=DemographicWeights(**new["demographics"]),
    )


def render_weights(w: Weights, *, header: str = "") -> str:
    """``w`` as TOML in the layout of ``weights-v1.toml``, ``header`` as comments."""

    def lw(x: LevelWeight) -> str:
        return f"{{ m = {x.m:.6g}, u = {x.u:.6g} }}"

    def years(xs: tuple[LevelWeight, ...]) -> str:
        return f"[{', '.join(lw(x) for x in xs)}]"

    d = w.demographics
    return "\n".join(
        [
            *(f"# {line}".rstrip() for line in header.splitlines()),
            f"version = {w.version}",
            f"token_version = {w.token_version}",
            f"source = {_toml_str(w.source)}",
            "# by distance in years: 0, 1, 2",
            f"birth_year = {years(w.birth_year)}",
            f"departure_year = {years(w.departure_year)}",
            "",
            "# on the posterior log2 odds that two interviews are one person",
            "[thresholds]",
            f"auto_link = {w.thresholds.auto_link!r}",
            f"review = {w.thresholds.review!r}",
            "",
            "[prior]",
            f"duplicate_share = {w.prior.duplicate_share!r}",
            f"population = {w.prior.population}",
            "",
            "[name]",
            *(f"{lv} = {lw(w.name[lv])}" for lv in _NAME_LEVELS),
            "",
            "[province]",
            *(f"{lv} = {lw(w.province[lv])}" for lv in _PROVINCE_LEVELS),
            "",
            "[demographics]",
            f"near = {lw(d.near)}",
            f"far = {lw(d.far)}",
            f"missing = {lw(d.missing)}",
            "",
            "[tf]",
            f"name_floor = {w.tf.name_floor:.6g}",
            f"prior_strength = {w.tf.prior_strength!r}",
            f"demo_clamp = {w.tf.demo_clamp!r}",
            f"count_cap = {w.tf.count_cap}",
            f"surname_default = {w.tf.surname_default:.6g}",
            "",
            "[surname_share]",
            *(f"{_toml_str(k)} = {v:.6g}" for k, v in w.surname_share.items()),
            "",
        ]
    )


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
