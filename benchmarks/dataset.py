"""Dataset speed: one image per call against ``explain-dataset`` batches and ranks.

A 64-image folder is made from the bundled photo (the 8 views of
``benchmarks/_photos.py``, each in 8 seeded random crops, half of them mirrored, saved as
JPEG). Every measurement is one fresh command, as a user runs it, on the offline default
model (``efficientnet_lite0``, 224 px) on the CPU:

- ``loop``: ``captum-igos explain IMAGE... --methods M --batch-size 1``: one image per
  call (the same engine, which also writes the raw map per image);
- ``batch 8`` / ``batch 32``: ``captum-igos explain-dataset LIST --methods M --batch-size B``;
- ``1 rank`` against ``2 ranks`` (``torchrun --standalone --nproc_per_node=2``), both at
  ``--batch-size 8`` with the machine's 2 cores: one process of 2 threads against two
  processes of 1 thread.

Images per second come from each command's own clock (``summary.json``
``seconds_this_run``: the work after the model is loaded, files included); the whole
command's wall time is shown beside it. Peak memory per rank is ``getrusage``
``ru_maxrss``: of the ``explain`` process (``os.wait4``), and each rank's own as
``explain-dataset`` records it in ``summary.json`` (``ranks``).

Settings: the demo's light ones (``--optimizer nag --iterations 5 --igos-steps 5
--rsi-steps 10 --metric-steps 16``), identical for every mode. Usage (repository root)::

    python -m benchmarks.dataset                       # the table in benchmarks/results/dataset.md
    python -m benchmarks.dataset --images 8 --igos-images 4 --rsi-images 4 --quick
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torchvision.transforms.functional as TF  # noqa: E402

from benchmarks._photos import grace_hopper_views  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SETTINGS = ["--optimizer", "nag", "--iterations", "5", "--igos-steps", "5", "--rsi-steps", "10",
            "--metric-steps", "16", "--device", "cpu", "--quiet"]
METHODS = ("gradcam", "rsi-gradcam", "igos")


def make_folder(root: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` JPEGs: every view of the photo in seeded random crops, every other mirrored."""
    rng = random.Random(seed)
    views = grace_hopper_views()
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        name, photo = views[index % len(views)]
        width, height = photo.size
        side = int(min(width, height) * rng.uniform(0.6, 1.0))
        left, top = rng.randint(0, width - side), rng.randint(0, height - side)
        view = photo.crop((left, top, left + side, top + side))
        if (index // len(views)) % 2:
            view = TF.hflip(view)
        path = root / f"{index:02d}_{name.replace(' ', '_')}.jpg"
        view.convert("RGB").save(path, quality=90)
        paths.append(path)
    return paths


def run(command: list[str], threads: int) -> tuple[float, float, int]:
    """Run ``command``: wall seconds, the process's peak RSS (MiB, ``wait4``), exit status."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               MPLBACKEND="Agg", PYTHONPATH=str(REPO))
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    assert process.stderr is not None
    err = process.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        print(err[-3000:], file=sys.stderr)
    return seconds, usage.ru_maxrss / 1024, process.returncode


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "captum_igos", *args]


def torchrun(ranks: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
            f"--nproc_per_node={ranks}", "-m", "captum_igos", *args]


def measure_loop(method: str, images: list[Path], out: Path, threads: int) -> dict:
    wall, rss, status = run(cli("explain", *map(str, images), "--methods", method,
                                "--batch-size", "1", "--out", str(out), *SETTINGS), threads)
    summary = json.loads((out / "summary.json").read_text())
    assert status == 0 and summary["results"] == len(images), (status, summary["failures"])
    return {"seconds": summary["seconds_this_run"], "wall": wall, "rss": [rss]}


def measure_dataset(method: str, listing: Path, count: int, out: Path, batch: int,
                    ranks: int, threads: int) -> dict:
    args = ["explain-dataset", str(listing), "--methods", method, "--out", str(out),
            "--batch-size", str(batch), *SETTINGS]
    wall, _, status = run(cli(*args) if ranks == 1 else torchrun(ranks, *args), threads)
    summary = json.loads((out / "summary.json").read_text())
    assert status == 0 and summary["results"] == count, (status, summary["failures"])
    return {"seconds": summary["seconds_this_run"], "wall": wall,
            "rss": [rank.get("peak_rss_mib", float("nan")) for rank in summary["ranks"]]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="Grad-CAM images (and folder)")
    parser.add_argument("--rsi-images", type=int, default=32)
    parser.add_argument("--igos-images", type=int, default=32)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--ranks-methods", default="gradcam,rsi-gradcam",
                        help="methods measured at 1 against 2 ranks")
    parser.add_argument("--quick", action="store_true", help="write dataset-quick.md")
    options = parser.parse_args(argv)
    counts = {"gradcam": options.images, "rsi-gradcam": options.rsi_images,
              "igos": options.igos_images}
    result_file = REPO / "benchmarks" / "results" / (
        "dataset-quick.md" if options.quick else "dataset.md")
    command = "python -m benchmarks.dataset " + " ".join(argv if argv is not None
                                                          else sys.argv[1:])
    rows: list[tuple] = []

    def write() -> None:
        lines = [
            "# explain-dataset: images per second, batches and ranks", "",
            f"efficientnet_lite0 (offline), 224 px, CPU, torch {torch.__version__}, on a shared "
            f"2-core machine (other work ran beside it: seconds are indicative). Folder: "
            f"{options.images} JPEG crops of the bundled photo. Settings for every mode: "
            f"`{' '.join(SETTINGS[:-3])}` (the demo's). Grad-CAM on {counts['gradcam']} "
            f"images, RSI-Grad-CAM on {counts['rsi-gradcam']}, I-GOS on {counts['igos']} "
            f"(fewer for the slow methods, to keep the run within the shared machine's time). "
            f"loop = `captum-igos explain --batch-size 1` (one image per call, raw maps saved), "
            f"batch B = `explain-dataset --batch-size B`; loop and batches with 1 thread; "
            f"1 rank x 2 threads against 2 ranks x 1 thread (torchrun, gloo) at batch 8. "
            f"Seconds are each command's own (after the model is loaded), wall includes "
            f"start-up; peak memory per rank is ru_maxrss. Command: `{command}`.", "",
            "| method | images | mode | seconds | images/s | x loop | wall s | peak RSS per rank |",
            "|---|---:|---|---:|---:|---:|---:|---|",
        ]
        loops = {row[0]: row[3] for row in rows if row[2] == "loop"}
        for method, count, mode, seconds, wall, rss in rows:
            speed = count / seconds
            ratio = f"{speed / (count / loops[method]):.2f}" if method in loops else ""
            peak = " / ".join(f"{value:.0f} MiB" for value in rss)
            lines.append(f"| {method} | {count} | {mode} | {seconds:.1f} | {speed:.3f} | {ratio} "
                         f"| {wall:.1f} | {peak} |")
        result_file.write_text("\n".join(lines) + "\n")

    with tempfile.TemporaryDirectory(prefix="captum-igos-bench-") as tmp:
        folder = Path(tmp) / "photos"
        images = make_folder(folder, max(counts.values()))
        for method in METHODS:
            count = counts[method]
            listing = Path(tmp) / f"{method}.txt"
            listing.write_text("".join(f"photos/{path.name}\n" for path in images[:count]))
            plan = [("loop", None, 1, 1)] + [(f"batch {b}", b, 1, 1) for b in options.batch_sizes]
            if method in options.ranks_methods.split(","):
                plan += [("batch 8, 1 rank x 2 threads", 8, 1, 2),
                         ("batch 8, 2 ranks x 1 thread", 8, 2, 1)]
            for mode, batch, ranks, threads in plan:
                out = Path(tmp) / f"out-{method}-{len(rows)}"
                if batch is None:
                    found = measure_loop(method, images[:count], out, threads)
                else:
                    found = measure_dataset(method, listing, count, out, batch, ranks, threads)
                rows.append((method, count, mode, found["seconds"], found["wall"], found["rss"]))
                print(f"{method:12s} {count:3d} {mode:30s} {found['seconds']:8.1f} s "
                      f"{count / found['seconds']:.3f} images/s, wall {found['wall']:.1f} s, "
                      f"peak {found['rss']}", flush=True)
                write()
    print(f"wrote {result_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
