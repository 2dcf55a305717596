"""Estimate the matching weights on a labelled synthetic population (docs/dedup.md).

Usage:  .venv/bin/python bench/dedup/estimate.py [--size 20000] [--seeds 2 5 6] [--out FILE]

m probabilities: the comparison levels of every true pair of the population (each pair
compared as the matcher compares them: the later interview's probe against the earlier
one's stored tokens). u probabilities: the levels of random pairs of different persons.
Both are smoothed towards the current weights (``syncserver.respondents.estimate``).
Prior (§7.4 of the matching spec): the share of interviews whose respondent was
interviewed before, and the number of persons. Thresholds, on the posterior log2 odds:
the matcher is run with review open to everything above -20 and nothing linked, and the
scores of its review items against the truth give

- ``auto_link``: the lowest threshold at which the auto-linkable items (whole name agrees,
  demographics near) are still >= 99.8% true (target 99.5%, with a margin);
- ``review``: the threshold at which a review item is still ``--review-precision`` true
  (default 5%: below that a reviewer would reject 19 of every 20 items).

Every figure is pooled over the populations of ``--seeds`` (2, 5 and 6 by default), so that
the thresholds do not follow the chance pairs of one population. Train on these seeds and
evaluate (evaluate.py) on others: 1, 3 and 4 there.
Writes the weights file (default: syncserver/respondents/weights-v1.toml) and prints the
threshold curves as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
from pathlib import Path

import harness
import msgspec
import population

from syncserver.respondents import (
    PseudonymKey,
    Weights,
    compare,
    default_weights,
    estimate,
    render_weights,
    stored_tokens,
)
from syncserver.respondents._compare import STRONG_NAME_LEVELS, Comparison
from syncserver.respondents._pseudonyms import Probe

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "syncserver" / "respondents" / "weights-v1.toml"
RANDOM_PAIRS = 200_000
#: The lowest posterior log2 odds looked at when choosing the review threshold.
FLOOR = -20


def level_codes(pop: population.Population, rng: random.Random) -> tuple[list[str], list[str]]:
    key = PseudonymKey(hashlib.sha256(b"estimate").digest())
    ivs = pop.interviews
    order = {iv.interview_id: i for i, iv in enumerate(ivs)}
    by_id = {iv.interview_id: iv for iv in ivs}
    probes: dict[str, Probe] = {}
    stored = {iv.interview_id: stored_tokens(key, harness.answers_of(iv))[0] for iv in ivs}

    def probe(iid: str) -> Probe:
        if iid not in probes:
            probes[iid] = Probe.build(key, harness.record_id(iid), harness.answers_of(by_id[iid]))
        return probes[iid]

    matches = []
    for pair in population.pairs_truth(ivs):
        early, late = sorted(pair, key=order.__getitem__)
        matches.append(compare(probe(late), stored[early]).code)
    non_matches = []
    while len(non_matches) < RANDOM_PAIRS:
        a, b = rng.sample(ivs, 2)
        if a.person_id != b.person_id:
            non_matches.append(compare(probe(a.interview_id), stored[b.interview_id]).code)
        if len(probes) > 20_000:
            probes.clear()
    return matches, non_matches


def thresholds(
    pops: list[population.Population], w: Weights, review_precision: float
) -> tuple[float, float, list[dict[str, object]]]:
    """(auto_link, review, curve) from runs that queue everything scoring >= FLOOR."""
    open_all = msgspec.structs.replace(
        w, thresholds=msgspec.structs.replace(w.thresholds, auto_link=1e9, review=FLOOR)
    )
    items = []
    for pop in pops:
        out = harness.run(pop.interviews, open_all)
        truth = population.pairs_truth(pop.interviews)
        items += [(score, pair in truth, Comparison.parse(code)) for pair, score, code in out.items]
    items.sort(key=lambda x: -x[0])
    linkable = [
        (s, ok) for s, ok, c in items if c.name in STRONG_NAME_LEVELS and c.demo_state == "near"
    ]
    auto, tp = 1e9, 0
    for i, (s, ok) in enumerate(linkable, start=1):
        tp += ok
        if tp / i >= 0.998 and (i == len(linkable) or linkable[i][0] < s):
            auto = s  # every auto-linkable item scoring >= s together is >= 99.8% true
    auto = math.floor(auto * 2) / 2
    review, curve = auto, []
    for t in [x / 2 for x in range(math.floor(auto * 2) - 1, FLOOR * 2 - 1, -1)]:
        band = [ok for s, ok, _ in items if t <= s < t + 1]
        local = sum(band) / len(band) if band else 1.0
        curve.append({"threshold": t, "items_in_band": len(band), "true_share": round(local, 4)})
        if local < review_precision:
            break
        review = t
    return auto, review, curve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--duplicates", type=float, default=0.10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[2, 5, 6])
    parser.add_argument("--review-precision", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    pops = [population.generate(args.size, args.duplicates, seed) for seed in args.seeds]
    base = default_weights()
    matches: list[str] = []
    non_matches: list[str] = []
    for seed, pop in zip(args.seeds, pops, strict=True):
        m, u = level_codes(pop, random.Random(seed))
        matches += m
        non_matches += u
    seeds = " ".join(map(str, args.seeds))
    source = (
        f"bench/dedup/estimate.py --size {args.size} --duplicates {args.duplicates} "
        f"--seeds {seeds}: m from {len(matches)} true pairs, u from {len(non_matches)} "
        f"random pairs of synthetic populations (generator v{population.GENERATOR_VERSION})"
    )
    w = estimate(base, matches, non_matches, source=source)
    persons = sum(len(p.persons) for p in pops)
    share = 1 - persons / sum(len(p.interviews) for p in pops)  # of someone seen before
    prior = msgspec.structs.replace(
        w.prior, duplicate_share=round(share, 4), population=persons // len(pops)
    )
    w = msgspec.structs.replace(w, version=1, prior=prior)
    auto, review, curve = thresholds(pops, w, args.review_precision)
    w = msgspec.structs.replace(
        w, thresholds=msgspec.structs.replace(w.thresholds, auto_link=auto, review=review)
    )
    header = (
        "sealsync respondent matching weights (docs/spec/respondent-matching.md §7, §9).\n"
        "Generated by bench/dedup/estimate.py; do not edit by hand: re-estimate (docs/dedup.md)."
    )
    args.out.write_text(render_weights(w, header=header), encoding="utf-8")
    bits = {lv: round(math.log2(w.name[lv].m / w.name[lv].u), 2) for lv in STRONG_NAME_LEVELS}
    json.dump(
        {
            "out": str(args.out),
            "auto_link": auto,
            "review": review,
            "strong_bits": bits,
            "review_curve": curve,
        },  # fmt: skip
        sys.stdout,
        indent=1,
    )
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
