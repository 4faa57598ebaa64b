"""Peak memory of ``deletion_insertion``: the old default (one pass) against the new one.

``internal_batch_size=None`` used to send all ``2 * n_steps * N`` perturbed images through
the model in one pass; it now means the methods' default rows per pass (8 on a CPU, 64
elsewhere; ``captum_igos._utils.batching``). This script measures the peak memory one
call needs (``benchmarks/_measure.py``: CPU RSS high-water mark in a fresh subprocess,
CUDA allocator peak) and its time, on the offline model (efficientnet_lite0, 224 px)
with random attributions; the curves do not depend on the chunking.

- after: ``N`` images (default 8) at ``n_steps`` (default 100), ``internal_batch_size=None``.
- before: the old default, i.e. ``internal_batch_size = 2 * n_steps * n`` (everything in
  one pass), for each ``n`` in ``--before-images`` (default 1 and 2: one pass of 1,600
  images of 224 px, the old default for 8 images, would need about 8 times the 1-image
  figure, more than a shared 23 GiB machine should be asked for; pass
  ``--before-images 8`` on a machine that has the memory).

Usage (from the repository root; 1 thread)::

    python -m benchmarks.deletion_memory                 # writes results/deletion_memory.md
    python -m benchmarks.deletion_memory --before-images 1 2 8
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` and the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from benchmarks._measure import format_bytes, peak_memory

RESULTS = Path(__file__).resolve().parent / "results"


def setup(images: int, device: str) -> tuple:
    from captum_igos.models import load_model, sample_image

    loaded = load_model(device=device)
    x = loaded.batch(sample_image()).expand(images, -1, -1, -1).clone()
    attributions = torch.rand(images, 1, 224, 224, generator=torch.Generator().manual_seed(0))
    return loaded.model, x, attributions.to(device)


def work(state: tuple, n_steps: int, internal_batch_size: int | None) -> None:
    from captum_igos.metrics import deletion_insertion

    model, x, attributions = state
    deletion_insertion(model, x, attributions, target=0, n_steps=n_steps,
                       internal_batch_size=internal_batch_size)


def measure(images: int, n_steps: int, internal_batch_size: int | None, device: str) -> dict:
    make = functools.partial(setup, images, device)
    run = functools.partial(work, n_steps=n_steps, internal_batch_size=internal_batch_size)
    peak = peak_memory(make, run, device=device)
    state = make()
    start = time.perf_counter()
    run(state)
    seconds = time.perf_counter() - start
    return {"images": images, "n_steps": n_steps, "internal_batch_size": internal_batch_size,
            "rows": 2 * n_steps * images, "peak": peak, "seconds": seconds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--n-steps", type=int, default=100)
    parser.add_argument("--before-images", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = [("after (None = 8 rows per pass on CPU)",
             measure(args.images, args.n_steps, None, args.device))]
    for images in args.before_images:
        rows.append((f"before (None = one pass), {images} image(s)",
                     measure(images, args.n_steps, 2 * args.n_steps * images, args.device)))
    lines = [
        "# deletion_insertion: peak memory of the default batch size",
        "",
        f"efficientnet_lite0, 224 px, n_steps={args.n_steps}, random attributions, target 0; "
        f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} "
        "thread(s), on a shared 2-core machine (seconds are indicative). Peak = growth of "
        "the RSS high-water mark of a fresh subprocess over its size after loading the "
        "model (benchmarks/_measure.py). Command: `python -m benchmarks.deletion_memory "
        + " ".join(argv if argv is not None else sys.argv[1:]) + "`.",
        "",
        "| setting | images | rows | internal_batch_size | peak memory | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, row in rows:
        lines.append(f"| {label} | {row['images']} | {row['rows']} | "
                     f"{row['internal_batch_size']} | {format_bytes(row['peak'])} | "
                     f"{row['seconds']:.1f} |")
    if args.images not in args.before_images:
        lines += ["", f"The old default for {args.images} images (one pass of "
                  f"{2 * args.n_steps * args.images} rows) is not measured here: its peak grows "
                  "with the rows of the pass (compare the before rows), beyond what a shared "
                  "machine should be asked for; `--before-images "
                  f"{args.images}` measures it where the memory is there."]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "deletion_memory.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
