"""Build the shipped params model, ``bhbfinder/data/slam_hot_default.asdf``.

Exactly how it is made (all defaults of `bhbfinder.params.training`):

1. MILES v9.1 stars of ``../shared/data/miles/miles_hot_labels.csv`` with complete labels and
   6500 K ≤ Teff ≤ 13000 K (126 stars; 10 without [Fe/H] are dropped), loaded by
   `bhbfinder.simulate.load_miles` (air → vacuum).
2. Each star simulated 12 times as a LAMOST spectrum (`bhbfinder.simulate.simulate_rows`:
   R = 1800, simulator instrument model, g-band S/N 50, rv = 0, seeds 20260601 + k), each
   realisation prepared by `bhbfinder.spectra.prepare.prepare` with the DEFAULT `PrepareConfig`
   (grid ``blue-3800-5000``), and the 12 prepared spectra averaged (inverse-variance weights).
3. `SlamEmulator()` fitted with default hyper-parameters (length scales and ridge term by
   closed-form leave-one-out error).
4. Validation recorded in the file: nested leave-one-star-out on the 7000–10000 K stars, each
   observed once more (seed 1, S/N 50) and inferred by a model fitted without it, with
   hyper-parameters tuned without its group of test stars (`nested_leave_one_star_out`, 8
   groups).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/train_slam_default.py [--miles DIR] [--out PATH]

Takes about two minutes on one core.
"""

import argparse
import json
import time
from pathlib import Path

from bhbfinder.params.stage import default_model_path
from bhbfinder.params.training import train_default_model

HERE = Path(__file__).resolve().parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--miles", default=str(HERE.parent.parent / "shared" / "data" / "miles"),
                        help="MILES folder (default ../shared/data/miles)")
    parser.add_argument("--out", default=str(default_model_path()), help="output ASDF file")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    model = train_default_model(args.miles, args.out)
    print(f"trained on {len(model.train_labels_)} stars in {time.perf_counter() - start:.0f} s; "
          f"length scales {model.length_scale_.round(3).tolist()}, alpha {model.alpha_:.3g}")
    print(json.dumps(model.meta["validation"], indent=1))
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
