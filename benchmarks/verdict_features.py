"""The held-out verdict with features added or taken away, on the same catalogues.

For each ``held_out_stars.py --fit-verdict`` work folder given, the verdict is cross-fitted
on its standard renderings, nested by fold as the headline is
(``heldout_params_variants.score``: each fold's model, calibration and threshold fitted on
the other folds), once with the shipped features
(`~bhbfinder.verdict.PHYSICAL_FEATURES`) and once with ``--add`` and ``--drop`` applied;
``is_bhb`` is scored at S/N ≥ 10 and ≥ 20 and the average precision at S/N ≥ 10. The
renderings, fold models and measurements stay as they were, so a difference comes from the
features alone. Names are those of `~bhbfinder.verdict.FEATURE_NAMES` (e.g. the offered but
unused ``mgii``, ``mgii_x_t``, ``metal``, ``metal_x_t``).

Run::

    OMP_NUM_THREADS=1 python benchmarks/verdict_features.py --workdir heldout_seed0 \\
        heldout_seed1 heldout_seed2 --add metal metal_x_t
"""

import argparse
from pathlib import Path

from astropy.table import Table


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", required=True, nargs="+",
                    help="benchmarks/held_out_stars.py --fit-verdict work folders")
    ap.add_argument("--add", nargs="*", default=[], metavar="FEATURE")
    ap.add_argument("--drop", nargs="*", default=[], metavar="FEATURE")
    ap.add_argument("--verdict-l2", type=float, default=1.0)
    args = ap.parse_args(argv)
    from heldout_params_variants import _print, score

    from bhbfinder.verdict import FEATURE_NAMES, PHYSICAL_FEATURES

    unknown = sorted(set(args.add + args.drop) - set(FEATURE_NAMES))
    if unknown:
        ap.error(f"not verdict features: {', '.join(unknown)} (see bhbfinder.verdict."
                 "FEATURE_NAMES)")
    if not (args.add or args.drop):
        ap.error("give --add or --drop")
    features = tuple(f for f in PHYSICAL_FEATURES if f not in args.drop) + \
        tuple(f for f in args.add if f not in PHYSICAL_FEATURES)
    print(f"variant features: {', '.join(features)}")
    for folder in args.workdir:
        cat = Table.read(Path(folder) / "catalog_standard_nested.ecsv")
        print(f"\n{folder}")
        _print("shipped", score(cat, args.verdict_l2))
        _print("variant", score(cat, args.verdict_l2, features))


if __name__ == "__main__":
    main()
