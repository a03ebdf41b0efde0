"""Derive the g − r colour–temperature relation `bhbfinder.params.colour_teff` ships.

Every real star of the held-out evaluation's templates (MILES in ``miles/`` and
``miles_more/``, the SDSS templates; `load_real_templates`) gets the synthetic SDSS g − r of
its own flux-calibrated spectrum (``relation_sample`` and ``template_colours`` of
``benchmarks/colour_teff.py``; needs ``speclite`` for the filter curves). The stars with a
catalogue Teff of 6,800–13,000 K and log g ≥ 2.5 (no supergiants or post-AGB stars, whose
reddened colours lie off the relation), neither doubtful nor with a Teff the label audit finds
contradicted, are fitted with ``log10 Teff = cubic(g − r)``; the relation's error is the
robust scatter of their colours about it, taken through its slope (`ColourTeffRelation`).
It is the fit the held-out evaluation makes for each fold on the other folds' stars
(``held_out_stars.py --also-colour-teff``), made here on all of them. The relation, with
this record, is printed and, with ``--write``, written.

    python scripts/derive_colour_teff.py --data ../shared/data \\
        [--write bhbfinder/data/colour_teff_g_r.json]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bhbfinder.params.colour_teff import ColourTeffRelation
from bhbfinder.training.heldout import FoldPlan, load_real_templates

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from colour_teff import (  # noqa: E402
    COLOUR_LOGG_MIN,
    COLOUR_TEFF_RANGE,
    fit_colour_relation,
    relation_sample,
    template_colours,
)

DEGREE = 3


def derive(data):
    """The shipped relation, fitted on every usable star of ``data``."""
    libs = load_real_templates(data)
    plan = FoldPlan.build(libs, n_folds=5, seed=0)   # the plan only lists the stars here
    sids, gr, teff, usable = relation_sample(plan.stars, template_colours(libs))
    rel = fit_colour_relation(gr[usable], teff[usable], DEGREE)
    t_fit = teff[usable]
    predicted, error = rel.teff(gr[usable])
    resid = predicted - t_fit
    bins = {}
    for t0, t1 in ((6800, 8500), (8500, 10000), (10000, 13000)):
        m = (t_fit >= t0) & (t_fit < t1)
        med = float(np.median(resid[m]))
        bins[f"{t0}-{t1}"] = {
            "n": int(m.sum()), "median_residual": round(med, 1),
            "robust_scatter": round(1.4826 * float(np.median(np.abs(resid[m] - med))), 1),
            "median_error": round(float(np.median(error[m])), 1),
            "within_error": round(float(np.mean(np.abs(resid[m]) <= error[m])), 3)}
    meta = {
        "how": f"log10 Teff = polynomial of degree {DEGREE} in the synthetic SDSS g - r "
               "(speclite sdss2010 g, r; AB) of the flux-calibrated templates of the real "
               f"stars with a catalogue Teff of {COLOUR_TEFF_RANGE[0]:.0f}-"
               f"{COLOUR_TEFF_RANGE[1]:.0f} K and log g >= {COLOUR_LOGG_MIN} (no "
               "supergiants or post-AGB stars), doubtful stars and contradicted catalogue "
               "temperatures (LABEL_AUDIT) left out; colours not dereddened; error: the "
               "robust scatter (1.4826 MAD) of the stars' colours about the relation at "
               "their catalogue Teff, through the relation's slope",
        "script": "scripts/derive_colour_teff.py",
        "n_stars": int(usable.sum()),
        "teff_range": list(COLOUR_TEFF_RANGE),
        "by_teff": bins,
        "references": ["Sanchez-Blazquez et al. 2006, MNRAS 371, 703 (MILES)",
                       "Falcon-Barroso et al. 2011, A&A 532, A95 (MILES)",
                       "Doi et al. 2010, AJ 139, 1628 (SDSS filter curves)"],
    }
    return ColourTeffRelation(rel.colour, rel.coefficients, rel.colour_range,
                              rel.colour_scatter, meta)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="../shared/data layout")
    ap.add_argument("--write", help="write the relation (JSON) here")
    args = ap.parse_args(argv)
    rel = derive(args.data)
    text = json.dumps(rel.to_dict(), indent=1)
    print(text)
    if args.write:
        Path(args.write).write_text(text + "\n")
        print(f"written to {args.write}")


if __name__ == "__main__":
    main()
