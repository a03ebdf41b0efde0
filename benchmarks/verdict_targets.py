"""The verdict at stricter precision targets, held out: the table of ``docs/verdict.rst``
(*A stricter decision*).

For each precision target the verdict is cross-fitted on the standard renderings of a
``held_out_stars.py --fit-verdict`` work folder, nested by fold as the headline is (each fold's
calibration and threshold chosen on the other folds for that target,
``heldout_params_variants.nested_verdict``), and ``is_bhb`` is scored at S/N ≥ 10 and ≥ 20
as the headline is (``heldout_params_variants.score_at``: doubtful stars out, a failed row a
miss). The
other renderings of the folder's ``catalog_standard_variants_nested.ecsv`` (coarse,
photometric) are scored by the same fold verdicts. The shipped model's threshold for each
target (`VerdictModel.for_precision`) is printed beside.

Run::

    OMP_NUM_THREADS=1 python benchmarks/verdict_targets.py --workdir heldout \\
        [--targets 0.95 0.97 0.98] [--variants-from OTHER_WORKDIR ...]

``--variants-from`` adds the variant renderings of other work folders made on the same plan
(a ``--also-colour-teff`` run writes its own variants file).
"""

import argparse
from pathlib import Path

import numpy as np
from astropy.table import Table


def apply_fold_verdicts(models, rows):
    """``is_bhb`` of other renderings of the folds' stars by each fold's verdict."""
    from bhbfinder.verdict import feature_matrix

    X = feature_matrix(rows)
    folds = np.asarray(rows["fold"], int)
    ok = np.asarray(rows["status"]).astype(str) == "ok"
    out = np.zeros(len(rows), bool)
    for k, model in models.items():
        m = ok & (folds == k)
        out[m] = model.predict_proba(X[m]) >= model.threshold_
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", required=True,
                    help="a benchmarks/held_out_stars.py --fit-verdict work folder")
    ap.add_argument("--targets", type=float, nargs="+", default=[0.95, 0.97, 0.98])
    ap.add_argument("--variants-from", nargs="*", default=[], metavar="WORKDIR")
    ap.add_argument("--verdict-l2", type=float, default=1.0)
    args = ap.parse_args(argv)
    from heldout_params_variants import nested_verdict, score_at

    from bhbfinder.stages.verdict import VerdictStage

    work = Path(args.workdir)
    cat = Table.read(work / "catalog_standard_nested.ecsv")
    variants = {}
    for folder in [work, *map(Path, args.variants_from)]:
        path = folder / "catalog_standard_variants_nested.ecsv"
        if path.is_file():
            table = Table.read(path)
            names = np.asarray(table["rendering"]).astype(str)
            variants.update((n, table[names == n]) for n in np.unique(names))
    shipped = VerdictStage().model
    for target in args.targets:
        _, decision, models = nested_verdict(cat, args.verdict_l2, target)
        p10, r10, fp10, _ = score_at(cat, decision, 10.0)
        p20, r20, fp20, stars = score_at(cat, decision, 20.0)
        print(f"\ntarget {target:g} (shipped model's threshold "
              f"{shipped.for_precision(target).threshold_:.3f}): S/N >= 10 {p10:.3f} / "
              f"{r10:.3f} (FP {fp10}); S/N >= 20 {p20:.3f} / {r20:.3f} (FP {fp20})")
        print("  per BHB star at S/N >= 20: "
              + ", ".join(f"{n} {v:.2f}" for n, v in stars.items()))
        for name, rows in variants.items():
            p, r, fp, _ = score_at(rows, apply_fold_verdicts(models, rows), 10.0)
            print(f"  {name}: S/N >= 10 {p:.3f} / {r:.3f} (FP {fp})")


if __name__ == "__main__":
    main()
