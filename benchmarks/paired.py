r"""Paired per-view differences between two variants of ``igos_plus_plus_ablation`` runs.

Reads the ``.json`` files the ablation writes (one per noise seed), pairs each view of
``--variant`` with the same view of ``--reference`` in the same file, and prints, per metric,
the mean difference over all view-seed pairs with its standard error, and the number of
pairs where the variant is better (lower deletion, higher insertion).

    python -m benchmarks.paired igos_plus_plus_ablation_12_views_ties \
        igos_plus_plus_ablation_12_views_ties_seed_1 igos_plus_plus_ablation_12_views_ties_seed_2

``--reference-in`` takes the reference from other files, one per stem, in the same order
(same views and seed), for variants that were run separately:

    python -m benchmarks.paired igos_plus_plus_ablation_12_views_ties_switches_1 \
        --variant "papers' Armijo" --reference ours \
        --reference-in igos_plus_plus_ablation_12_views_ties
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
METRICS = ("deletion_pixels", "insertion_pixels", "deletion_cells", "insertion_cells")


def _rows(stem: str) -> dict[str, dict]:
    return {row["variant"]: row for row in json.loads((RESULTS / f"{stem}.json").read_text())}


def paired_differences(stems: list[str], variant: str, reference: str,
                       reference_stems: list[str] | None = None) -> dict[str, list[float]]:
    """``variant - reference`` per view and seed, for each metric present in both; the
    reference row comes from ``reference_stems[i]`` for ``stems[i]`` when given."""
    differences: dict[str, list[float]] = {metric: [] for metric in METRICS}
    for index, stem in enumerate(stems):
        rows = _rows(stem)
        references = rows if reference_stems is None else _rows(reference_stems[index])
        if rows[variant]["views"] != references[reference]["views"]:
            raise ValueError(f"{stem}: {variant!r} and {reference!r} ran on different views")
        for metric in METRICS:
            differences[metric] += [a - b for a, b in zip(rows[variant][metric],
                                                          references[reference][metric])]
    return differences


def summarize(metric: str, values: list[float]) -> tuple[float, float, int]:
    """Mean of the paired differences, its standard error (0 for one pair) and the number of
    pairs where the variant is better (lower deletion, higher insertion)."""
    mean = statistics.fmean(values)
    error = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    better = sum((value < 0) if metric.startswith("deletion") else (value > 0) for value in values)
    return mean, error, better


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stems", nargs="+", help="result files (without .json) in results/")
    parser.add_argument("--variant", default="ours")
    parser.add_argument("--reference", default="IGOS")
    parser.add_argument("--reference-in", nargs="+", default=None,
                        help="files holding the reference, one per stem (default: the stem)")
    args = parser.parse_args(argv)
    if args.reference_in is not None and len(args.reference_in) != len(args.stems):
        parser.error("--reference-in needs one file per stem")
    differences = paired_differences(args.stems, args.variant, args.reference, args.reference_in)
    print(f"{args.variant} - {args.reference}, {len(args.stems)} file(s)")
    for metric, values in differences.items():
        mean, error, better = summarize(metric, values)
        print(f"{metric:>17}: {mean:+.3f} ± {error:.3f}  (variant better in "
              f"{better}/{len(values)})")


if __name__ == "__main__":
    main()
