r"""Paired per-view differences between two variants of ``igos_plus_plus_ablation`` runs.

Reads the ``.json`` files the ablation writes (one per noise seed), pairs each view of
``--variant`` with the same view of ``--reference`` in the same file, and prints, per metric,
the mean difference over all view-seed pairs with its standard error, and the number of
pairs where the variant is better (lower deletion, higher insertion).

    python -m benchmarks.paired igos_plus_plus_ablation_12_views_ties \
        igos_plus_plus_ablation_12_views_ties_seed_1 igos_plus_plus_ablation_12_views_ties_seed_2
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
METRICS = ("deletion_pixels", "insertion_pixels", "deletion_cells", "insertion_cells")


def paired_differences(stems: list[str], variant: str, reference: str) -> dict[str, list[float]]:
    """``variant - reference`` per view and seed, for each metric present in both."""
    differences: dict[str, list[float]] = {metric: [] for metric in METRICS}
    for stem in stems:
        rows = {row["variant"]: row for row in json.loads((RESULTS / f"{stem}.json").read_text())}
        for metric in METRICS:
            differences[metric] += [a - b for a, b in zip(rows[variant][metric],
                                                          rows[reference][metric])]
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
    args = parser.parse_args(argv)
    differences = paired_differences(args.stems, args.variant, args.reference)
    print(f"{args.variant} - {args.reference}, {len(args.stems)} file(s)")
    for metric, values in differences.items():
        mean, error, better = summarize(metric, values)
        print(f"{metric:>17}: {mean:+.3f} ± {error:.3f}  (variant better in "
              f"{better}/{len(values)})")


if __name__ == "__main__":
    main()
