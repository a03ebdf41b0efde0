"""The verdict at stricter precision targets, held out: the table of ``docs/verdict.rst``
(*A stricter decision*).

For each precision target the verdict is cross-fitted on the standard renderings of a
``held_out_stars.py --fit-verdict`` work folder, nested by fold as the headline is (each fold's
calibration and threshold chosen on the other folds for that target,
`bhbfinder.verdict.model.cross_fit`), and ``is_bhb`` is scored at S/N ≥ 10 and ≥ 20 with
`bhbfinder.training.heldout.score_decisions` (doubtful stars out, a failed row a miss). The
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


def _counted(cat, min_snr):
    return ~np.asarray(cat["true_doubtful"], bool) & (np.asarray(cat["true_snr"], float)
                                                      >= min_snr)


def score(cat, decision, min_snr):
    """``(precision, recall, false positives, {star: share found})`` of ``decision``."""
    from bhbfinder.training.heldout import score_decisions

    m = _counted(cat, min_snr)
    truth = np.asarray(cat["true_label"]).astype(str) == "BHB"
    ok = np.asarray(cat["status"]).astype(str) == "ok"
    s = score_decisions(truth[m], np.asarray(decision, bool)[m], ok=ok[m],
                        star_ids=np.asarray(cat["true_name"]).astype(str)[m])
    stars = {n: v["fraction"] for n, v in s["by_star"].items() if v["bhb"]}
    return s["pooled"]["precision"], s["pooled"]["recall"], s["pooled"]["fp"], stars


def fold_verdicts(cat, target, l2=1.0):
    """The nested decision of every row of ``cat`` and each fold's verdict, for ``target``."""
    from bhbfinder.verdict import PHYSICAL_FEATURES, VerdictModel, cross_fit, feature_matrix

    usable = (np.asarray(cat["status"]).astype(str) == "ok") & \
        ~np.asarray(cat["true_doubtful"], bool)
    truth = np.asarray(cat["true_label"]).astype(str) == "BHB"
    _, decision, _, models = cross_fit(
        feature_matrix(cat)[usable], truth[usable], np.asarray(cat["fold"], int)[usable],
        lambda: VerdictModel(features=PHYSICAL_FEATURES, l2=l2, precision_target=target),
        return_models=True)
    out = np.zeros(len(cat), bool)
    out[usable] = decision
    return out, models


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
        decision, models = fold_verdicts(cat, target, args.verdict_l2)
        p10, r10, fp10, _ = score(cat, decision, 10.0)
        p20, r20, fp20, stars = score(cat, decision, 20.0)
        print(f"\ntarget {target:g} (shipped model's threshold "
              f"{shipped.for_precision(target).threshold_:.3f}): S/N >= 10 {p10:.3f} / "
              f"{r10:.3f} (FP {fp10}); S/N >= 20 {p20:.3f} / {r20:.3f} (FP {fp20})")
        print("  per BHB star at S/N >= 20: "
              + ", ".join(f"{n} {v:.2f}" for n, v in stars.items()))
        for name, rows in variants.items():
            p, r, fp, _ = score(rows, apply_fold_verdicts(models, rows), 10.0)
            print(f"  {name}: S/N >= 10 {p:.3f} / {r:.3f} (FP {fp})")


if __name__ == "__main__":
    main()
