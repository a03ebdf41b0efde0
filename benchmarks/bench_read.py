"""Files per second: the batch read path against bare astropy.io.fits on the same files.

Usage::

    python benchmarks/bench_read.py [DATA_DIR] [--repeat N] [--rounds R]

``DATA_DIR`` is the shared data folder (default ``$BHBFINDER_TEST_DATA`` or ``../shared/data``).
Two sets are timed: the 160 DR8 ``.fits.gz`` files (layout A, gzip) and the plain ``.fits``
files of DR1, DR7 and DR10 (layouts A and B), each repeated ``--repeat`` times. "bare astropy"
is ``fits.open`` + the data array(s) + the primary header, what any reader must do at least;
"read_batch" is `bhbfinder.io.read.read_batch` (plugin lookup by header sniffing, the LAMOST
reader, checks, stacking into a RawBatch with its meta table). The two run interleaved for
``--rounds`` rounds and the best round of each is reported, to damp noise on a shared machine.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from astropy.io import fits


def bare_astropy(paths):
    """Open each file and read its flux block and primary header with astropy.io.fits."""
    total = 0.0
    for path in paths:
        with fits.open(path, memmap=False) as hdul:
            header = hdul[0].header
            if header["NAXIS"] == 0:
                row = hdul[1].data[0]
                arrays = [np.asarray(row[c]) for c in ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK")]
            else:
                arrays = list(np.asarray(hdul[0].data))
            total += float(arrays[0][0]) + float(header["RA"])
    return total


def batch_path(paths):
    from bhbfinder.io.read import read_batch

    batch = read_batch(paths)
    assert batch.ok.all(), list(batch.meta["status"][~batch.ok])
    return batch


def _time(func, paths):
    start = time.perf_counter()
    func(paths)
    return len(paths) / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=os.environ.get("BHBFINDER_TEST_DATA",
                                                                   "../shared/data"))
    parser.add_argument("--repeat", type=int, default=2, help="passes over each file set")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    args = parser.parse_args(argv)
    lamost = Path(args.data) / "lamost"
    if not lamost.is_dir():
        sys.exit(f"no LAMOST files under {lamost}: give the shared data folder")
    sets = {
        "DR8 .fits.gz (layout A, gzip)": sorted(map(str, (lamost / "dr8").glob("*.fits.gz"))),
        "plain .fits (DR1/DR7 layout A, DR10 layout B)": sorted(
            str(p) for sub in ("dr1", "dr7_edge_cases", "dr10")
            for p in (lamost / sub).glob("*.fits")
        ),
    }
    # warm up: imports, the plugin manager (built-ins and entry points), page cache
    from bhbfinder.plugins import get_plugin_manager

    get_plugin_manager()
    for paths in sets.values():
        bare_astropy(paths)
        batch_path(paths)

    print(f"{'file set':48s} {'files':>6s} {'bare astropy':>14s} {'read_batch':>12s} {'ratio':>7s}")
    for name, paths in sets.items():
        paths = paths * args.repeat
        bare, ours = [], []
        for _ in range(args.rounds):
            bare.append(_time(bare_astropy, paths))
            ours.append(_time(batch_path, paths))
        print(f"{name:48s} {len(paths):6d} {max(bare):10.0f} f/s {max(ours):8.0f} f/s "
              f"{max(ours) / max(bare):6.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
