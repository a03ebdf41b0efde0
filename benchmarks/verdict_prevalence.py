"""The verdict at other BHB shares: the tables of ``docs/verdict.rst``.

For a verdict model (default the shipped one) prints

1. for each BHB share of the hot spectra, the threshold `VerdictModel.for_prevalence` chooses
   and, at it, the recall and precision observed on the model's held-out rows (reweighted to
   that share);
2. how well `bhbfinder.verdict.estimate_prevalence` recovers a known share: the model's
   held-out rows (`VerdictModel.held_out_scores`: out-of-fold probabilities, as
   ``for_prevalence`` makes them) with the BHB
   rows among the hot ones drawn with replacement to the share, ``--draws`` times; the median
   estimate and its 68 % range.

Both use only the rows the model file keeps (``meta["held_out_features"]``): no data folder,
about ten seconds.

Run::

    OMP_NUM_THREADS=1 python benchmarks/verdict_prevalence.py [--model PATH] [--draws N]
"""

import argparse

import numpy as np
from astropy.table import Table

from bhbfinder.stages.verdict import VerdictStage
from bhbfinder.verdict import estimate_prevalence
from bhbfinder.verdict.model import VerdictModel

SHARES = (0.50, None, 0.10, 0.05, 0.02, 0.01)
ESTIMATED_SHARES = (0.30, 0.10, 0.05, 0.02)


def threshold_table(model):
    """Print the threshold, held-out recall and precision for each share of `SHARES` (None:
    the model's own)."""
    print("share  threshold  held-out recall  observed precision  expected precision")
    for share in SHARES:
        share = model.prevalence if share is None else share
        record = model.for_prevalence(share).meta["prevalence"]
        print(f"{share:5.2f}  {record['threshold']:9.2f}  {record['held_out_recall']:15.2f}  "
              f"{record['held_out_precision']:18.2f}  {record['expected_precision']:18.3f}")


def estimator_table(model, draws, seed=0):
    """Print the median and 68 % range of `estimate_prevalence` on held-out rows drawn to each
    share of `ESTIMATED_SHARES`."""
    scores = model.held_out_scores()
    p, y, hot, teff = (scores[k] for k in ("p_bhb", "is_bhb_true", "hot", "teff"))
    rng = np.random.default_rng(seed)
    bhb, others = np.flatnonzero(hot & y), np.flatnonzero(hot & ~y)
    print(f"true share  estimate: median (68 % of {draws} draws)")
    for share in ESTIMATED_SHARES:
        n_bhb = int(round(share / (1.0 - share) * len(others)))
        found = []
        for _ in range(draws):
            rows = np.concatenate([rng.choice(bhb, n_bhb, replace=n_bhb > len(bhb)), others])
            found.append(estimate_prevalence(Table({"p_bhb": p[rows], "teff": teff[rows]}),
                                             model)["prevalence"])
        lo, hi = np.percentile(found, [16, 84])
        print(f"{share:10.2f}  {np.median(found):.3f} ({lo:.3f}-{hi:.3f})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a verdict model file (default: the shipped one)")
    ap.add_argument("--draws", type=int, default=200)
    args = ap.parse_args(argv)
    model = VerdictModel.load(args.model) if args.model else VerdictStage().model
    print(f"verdict model: {args.model or 'shipped'}; fitted share {model.prevalence:.3f}, "
          f"precision target {model.precision_target}")
    threshold_table(model)
    estimator_table(model, args.draws)


if __name__ == "__main__":
    main()
