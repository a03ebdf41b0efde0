"""End-to-end throughput and peak memory of `find_bhb` on simulated LAMOST .fits.gz files.

Usage::

    python benchmarks/bench_pipeline.py --n 2000 20000 [--workers 1] [--batch-size 256]

Each N is simulated once into a cache folder (not timed), then run in a fresh subprocess so
peak memory (ru_maxrss) belongs to that run alone. Prints spectra/s and peak memory per N; a
flat peak memory across N shows the streaming keeps memory bounded.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from bhbfinder import find_bhb
folder, output, workers, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
t0 = time.perf_counter()
cat = find_bhb(folder, output=output, progress=False, batch_size=batch,
               executor=workers if workers > 1 else None)
elapsed = time.perf_counter() - t0
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"n": len(cat), "elapsed": elapsed, "peak_mb": self_kb / 1024,
                  "peak_child_mb": child_kb / 1024,
                  "ok": int((cat["status"] == "ok").sum())}))
"""


def simulate(folder, n, seed=1):
    """Write n simulated LAMOST .fits.gz files (all classes) into folder, once."""
    from bhbfinder.simulate import CLASSES, build_library, simulate_files

    done = folder / "truth.ecsv"
    if done.exists():
        return
    per = -(-n // len(CLASSES))
    written = 0
    chunk = 0
    while written < n:
        k = min(per, -(-(n - written) // len(CLASSES)))
        lib = build_library(("analytic",), n_per_class=k, snr=(10, 100), seed=seed + chunk)
        sub = folder / f"chunk{chunk:04d}"
        simulate_files(sub, lib, compress="gzip")
        written += len(lib.labels)
        chunk += 1
    done.write_text("done\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "bhbf-bench"))
    args = parser.parse_args()
    print(f"{'N':>7} {'spectra/s':>10} {'elapsed s':>10} {'peak MB':>8} {'workers':>7}")
    for n in args.n:
        folder = Path(args.cache) / f"n{n}"
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        simulate(folder, n)
        sim = time.perf_counter() - t0
        out = Path(args.cache) / f"catalog-n{n}.fits"
        out.unlink(missing_ok=True)  # find_bhb does not replace an existing catalogue
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(folder), str(out), str(args.workers),
             str(args.batch_size)], capture_output=True, text=True)
        if result.returncode:
            sys.exit(f"the run of N={n} failed:\n{result.stderr[-3000:]}")
        stats = json.loads(result.stdout.strip().splitlines()[-1])
        peak = max(stats["peak_mb"], stats["peak_child_mb"])
        print(f"{stats['n']:>7} {stats['n'] / stats['elapsed']:>10.1f} "
              f"{stats['elapsed']:>10.1f} {peak:>8.0f} {args.workers:>7}"
              f"   (simulation {sim:.0f} s, {stats['ok']} ok)")


if __name__ == "__main__":
    main()
