"""Time SDSSReader.read_arrays (astropy.io.fits directly) against reading through specutils.

Usage::

    python examples/bhbfinder-sdss/benchmarks/bench_read.py [DATA_FOLDER] [--repeat N]

DATA_FOLDER defaults to ``$BHBFINDER_TEST_DATA``; its ``sdss/spec-*.fits`` files are read N times
each way. Prints milliseconds per file; asserts nothing (timings belong here, not in tests).
"""

import argparse
import os
import time
import warnings
from pathlib import Path

from bhbfinder_sdss import SPECUTILS_FORMAT, SDSSReader
from specutils import Spectrum

from bhbfinder.io.base import SpectrumArrays
from bhbfinder.io.specutils_reader import SpecutilsReader


def _time(func, paths, repeat):
    func(paths[0])  # warm up imports and caches
    start = time.perf_counter()
    for _ in range(repeat):
        for path in paths:
            func(path)
    return (time.perf_counter() - start) / (repeat * len(paths)) * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=os.environ.get("BHBFINDER_TEST_DATA"))
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("give the data folder or set BHBFINDER_TEST_DATA")
    paths = sorted(str(p) for p in (Path(args.data) / "sdss").glob("spec-*.fits"))
    reader = SDSSReader()
    warnings.simplefilter("ignore")
    runs = {
        "read_arrays (astropy.io.fits)": reader.read_arrays,
        "read_spectrum (specutils loader + meta)": reader.read_spectrum,
        "specutils loader -> SpectrumArrays (no HDU 2)": lambda p: SpectrumArrays.from_spectrum(
            Spectrum.read(p, format=SPECUTILS_FORMAT)),
        "built-in fallback SpecutilsReader.read_arrays":
            SpecutilsReader(SPECUTILS_FORMAT).read_arrays,
    }
    print(f"{len(paths)} files x {args.repeat}")
    for label, func in runs.items():
        print(f"{label:48s} {_time(func, paths, args.repeat):7.2f} ms/file")


if __name__ == "__main__":
    main()
