"""Evaluate respondent deduplication on a synthetic population (issue 5, "Done when").

Usage:  .venv/bin/python bench/dedup/evaluate.py [--size 20000] [--duplicates 0.10] [--seed 1]
            [--matcher sealsync|baseline] [--weights FILE]

Generates a population with bench/dedup/population.py, runs a matcher over the interviews
and prints JSON: auto-link precision and recall, the size and yield of the review queue,
recall of auto-link plus review (targets: auto-link precision >= 99.5%, recall of auto-link
plus review >= 98%), and that combined recall broken down by the kind of variation in the
true pairs.

``--matcher sealsync`` (the default) is the real matcher, run through a real store by
bench/dedup/harness.py in bundles of 50, with the shipped weights (estimated on seed 2,
so evaluate on another seed). ``--matcher baseline`` auto-links interviews whose name
(``str.strip().lower()``), sex and birth year are exactly equal and sends nothing to
review: the floor the real matcher has to beat.

All scores are over unordered pairs of interview ids (``frozenset({a, b})``): a cluster
counts every pair within it (`cluster_pairs`), and a review item every pair it would link
(its two clusters' members).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import population
from population import Interview

Pair = frozenset[str]

TARGET_AUTO_PRECISION = 0.995
TARGET_COMBINED_RECALL = 0.98


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def evaluate(
    predicted_auto: set[Pair], predicted_review: set[Pair], truth: set[Pair]
) -> dict[str, object]:
    """Pairwise scores of one matcher run.

    A pair in both `predicted_auto` and `predicted_review` counts as auto-linked only.
    Precision is None when nothing was auto-linked, recall None when there is no true pair.
    """
    for pair in itertools.chain(predicted_auto, predicted_review, truth):
        if len(pair) != 2:
            raise ValueError(f"not a pair of two distinct interview ids: {sorted(pair)}")
    review = predicted_review - predicted_auto
    auto_tp = len(predicted_auto & truth)
    review_tp = len(review & truth)
    found = auto_tp + review_tp
    auto_precision = _ratio(auto_tp, len(predicted_auto))
    combined_recall = _ratio(found, len(truth))
    return {
        "true_pairs": len(truth),
        "auto_links": len(predicted_auto),
        "auto_true": auto_tp,
        "auto_false": len(predicted_auto) - auto_tp,
        "auto_precision": auto_precision,
        "auto_recall": _ratio(auto_tp, len(truth)),
        "review_queue": len(review),
        "review_true": review_tp,
        "review_precision": _ratio(review_tp, len(review)),
        "combined_recall": combined_recall,
        "missed": len(truth) - found,
        "meets_targets": (
            auto_precision is not None
            and combined_recall is not None
            and auto_precision >= TARGET_AUTO_PRECISION
            and combined_recall >= TARGET_COMBINED_RECALL
        ),
    }


def recall_by_variant(
    found: set[Pair], truth: set[Pair], interviews: Iterable[Interview]
) -> dict[str, dict[str, object]]:
    """For each variant kind, the true pairs where either interview carries it and the share
    of them in `found` (typically auto-links plus review). "none": pairs with no variation."""
    variants = {iv.interview_id: iv.variants for iv in interviews}
    totals: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for pair in truth:
        kinds = sorted({v for iid in pair for v in variants[iid]}) or ["none"]
        for kind in kinds:
            totals[kind] += 1
            hits[kind] += pair in found
    return {
        kind: {"pairs": totals[kind], "recall": _ratio(hits[kind], totals[kind])}
        for kind in ["none", *population.VARIANT_KINDS]
        if totals[kind]
    }


def named_pairs(
    auto: set[Pair], review: set[Pair], truth: set[Pair], interviews: Iterable[Interview]
) -> dict[str, object]:
    """Scores over the true pairs where both interviews carry the respondent's name, and
    the same name (neither ``name_missing`` nor ``name_changed``): what identity answers
    can decide, as against pairs that only sex, years and province speak for."""
    variants = {iv.interview_id: iv.variants for iv in interviews}
    blind = {"name_missing", "name_changed"}
    named = {p for p in truth if not any(blind & set(variants[i]) for i in p)}
    found = auto | review
    return {
        "pairs": len(named),
        "auto_recall": _ratio(len(named & auto), len(named)),
        "combined_recall": _ratio(len(named & found), len(named)),
    }


def cluster_pairs(clusters: Iterable[Iterable[str]]) -> set[Pair]:
    """Every pair of interview ids within each cluster."""
    return {
        frozenset(pair)
        for cluster in clusters
        for pair in itertools.combinations(sorted(set(cluster)), 2)
    }


def baseline_matcher(interviews: Iterable[Interview]) -> tuple[set[Pair], set[Pair]]:
    """BASELINE, NOT THE REAL MATCHER: auto-link on exact (name.strip().lower(), sex,
    birth_year); interviews without a name are never linked; the review queue is empty."""
    groups: dict[tuple[str, str, int], list[str]] = defaultdict(list)
    for iv in interviews:
        if iv.respondent_name is None:
            continue
        key = (iv.respondent_name.strip().lower(), iv.sex, iv.birth_year)
        groups[key].append(iv.interview_id)
    return cluster_pairs(groups.values()), set()


def sealsync_matcher(
    interviews: Sequence[Interview],
    weights_file: str | None = None,
    *,
    review: float | None = None,
) -> tuple[set[Pair], set[Pair], dict[str, object]]:
    """The real matcher (bench/dedup/harness.py): auto pairs, review pairs, and facts.
    ``review`` replaces the weights' review threshold (to draw the trade-off curve)."""
    import harness
    import msgspec

    from syncserver.respondents import default_weights, load_weights

    weights = load_weights(Path(weights_file)) if weights_file else default_weights()
    if review is not None:
        t = msgspec.structs.replace(weights.thresholds, review=review)
        weights = msgspec.structs.replace(weights, thresholds=t)
    out = harness.run(interviews, weights)
    facts = {
        "weights": weights.source,
        "thresholds": {
            "auto_link": weights.thresholds.auto_link,
            "review": weights.thresholds.review,
        },  # fmt: skip
        "review_items": len(out.items),
        "pairs_compared": out.compared,
        "seconds": round(out.seconds, 1),
    }
    return out.auto, set(out.review), facts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20_000, help="number of persons")
    parser.add_argument("--duplicates", type=float, default=0.10, help="share interviewed again")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--matcher", choices=["sealsync", "baseline"], default="sealsync")
    parser.add_argument("--weights", help="a weights file (default: the shipped one)")
    parser.add_argument(
        "--review", type=float, help="review threshold in bits (default: the weights')"
    )
    args = parser.parse_args(argv)
    pop = population.generate(args.size, args.duplicates, args.seed)
    truth = population.pairs_truth(pop.interviews)
    if args.matcher == "baseline":
        auto, review = baseline_matcher(pop.interviews)
        about: dict[str, object] = {
            "matcher": "BASELINE (not the real matcher): exact name.strip().lower() + sex + "
            "birth_year auto-links, no review queue"
        }
    else:
        auto, review, facts = sealsync_matcher(pop.interviews, args.weights, review=args.review)
        about = {"matcher": "sealsync (syncserver.respondents.Matcher)", **facts}
    report = {
        **about,
        "population": population.summary(pop),
        "targets": {
            "auto_precision": TARGET_AUTO_PRECISION,
            "combined_recall": TARGET_COMBINED_RECALL,
        },
        "metrics": evaluate(auto, review, truth),
        "named_pairs": named_pairs(auto, review, truth, pop.interviews),
        "combined_recall_by_variant": recall_by_variant(auto | review, truth, pop.interviews),
    }
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
