"""Derive the ``"lamost"`` Balmer criteria set on real stars and score it on held-out stars.

The real BHB, A and B stars of the shared data folder (MILES in ``miles/`` and ``miles_more/``,
the SDSS stellar templates; labels audited, `bhbfinder.training.heldout`) are rendered as LAMOST
spectra through the package's instrument model (`HELD_OUT_SIMULATION`: S/N 8-80, RV ±400 km/s,
blue-arm FWHM 2-4 Å, interstellar Ca II K 0-0.4 Å, ...; and `COARSE_SIMULATION`, FWHM
3.2-4 Å), prepared with the default ``prepare`` stage and measured by the Balmer stage. With the
folds of the held-out evaluation (`FoldPlan`, 5 folds, seed 0) the set is derived on the stars
of four folds (`derive_teff_criteria`, settings `DERIVATION`) and applied to the fifth; the
pooled verdicts on held-out stars at S/N ≥ 20 are printed for ``lamost`` and ``xue2008``, by Teff
bin, for the standard and the coarse resolution, with the resolution assumed (as for LAMOST
files, which record none) and known (``resolution_fwhm`` in the batch meta); and, for the
comparison, for the same derivation without the gravity index (``lamost-no-gravity``: the cuts
of the set before the index was added). The shipped set is then derived on every star and
written, with this record in its ``meta``.

Run (about two minutes on one core)::

    OMP_NUM_THREADS=1 python scripts/derive_balmer_lamost.py --data ../shared/data \\
        [--write bhbfinder/data/balmer_lamost.json]
"""

import argparse
import json
import time

import numpy as np
from astropy.table import vstack

from bhbfinder.balmer import BalmerStage, get_criteria
from bhbfinder.balmer.criteria import LAMOST_DESCRIPTION, LAMOST_REFERENCES
from bhbfinder.balmer.derive import LAMOST_CUTS, derive_teff_criteria
from bhbfinder.spectra.prepare import prepare
from bhbfinder.training.heldout import (
    COARSE_SIMULATION,
    HELD_OUT_SIMULATION,
    FoldPlan,
    load_real_templates,
    render_stars,
)

#: Settings of the derivation (see `derive_teff_criteria`).
DERIVATION = {"teff_classes": ("BHB", "A"), "kernel": 700.0, "min_completeness": 0.9}
#: Renderings below this S/N do not shape the boundaries.
MIN_SNR_DERIVE = 15.0
#: The headline S/N limit.
MIN_SNR_SCORE = 20.0
TEFF_BINS = ((7000.0, 8500.0), (8500.0, 10000.0), (10000.0, 12000.0))
CLASSES = ("BHB", "A", "B")
SIMULATIONS = {"standard": (HELD_OUT_SIMULATION, 0), "coarse": (COARSE_SIMULATION, 500)}


def measure(libs, plan, simulation, seed0):
    """Render every fold's BHB/A/B stars, prepare, measure (resolution assumed and known)."""
    stars = plan.stars
    out = {"assumed": [], "known": []}
    for k in range(plan.n_folds):
        held = stars[(np.asarray(stars["fold"]) == k) & np.isin(stars["label"], CLASSES)]
        sim = render_stars(libs, held, seed=seed0 + k, simulation=simulation)
        for c0 in range(0, len(sim), 512):
            batch = prepare(sim.to_raw_batch(slice(c0, c0 + 512)))
            meta = batch.meta
            truth = {key: np.asarray(meta[key]) for key in
                     ("label", "star_id", "teff", "logg", "feh", "snr_target", "source")}
            drawn = 4500.0 / np.asarray(meta["resolving_power"], float)
            # the rendering cannot be sharper than its template (MILES 2.5 Å, SDSS R 2000)
            floor = np.where(truth["source"] == "eigenstar", 4500.0 / 2000.0, 2.5)
            del meta["resolving_power"]
            for mode in ("assumed", "known"):
                if mode == "known":
                    meta["resolution_fwhm"] = np.maximum(drawn, floor)
                table = BalmerStage(criteria="xue2008").run(batch)
                for key, value in truth.items():
                    table["true_" + key] = value
                table["fold"] = k
                table.meta = {}
                out[mode].append(table)
            del meta["resolution_fwhm"]
    return {mode: vstack(parts) for mode, parts in out.items()}


def _values(table, key):
    return np.asarray(np.ma.filled(np.ma.asarray(table[key], dtype=float), np.nan), float)


#: The cuts of the set before the gravity index (scored for the comparison only).
CUTS_NO_GRAVITY = {k: v for k, v in LAMOST_CUTS.items() if k != "gravity_index"}


def derive(table, name="lamost", meta=None, cuts=None):
    labels = np.asarray(table["true_label"]).astype(str)
    return derive_teff_criteria(
        table, labels, _values(table, "true_teff"), _values(table, "true_feh"),
        star_ids=np.asarray(table["true_star_id"]).astype(str),
        rows=_values(table, "true_snr_target") >= MIN_SNR_DERIVE, name=name, cuts=cuts,
        description=LAMOST_DESCRIPTION, references=LAMOST_REFERENCES, meta=meta, **DERIVATION)


def score(table, confirmed):
    """BHB and A+B confirmed fractions at S/N ≥ 20, overall and per Teff bin."""
    labels = np.asarray(table["true_label"]).astype(str)
    snr = _values(table, "true_snr_target")
    teff = _values(table, "true_teff")
    hi = snr >= MIN_SNR_SCORE
    bhb, ab = hi & (labels == "BHB"), hi & np.isin(labels, ("A", "B"))
    conf = np.asarray(confirmed, bool)

    def frac(m):
        return {"fraction": float(conf[m].mean()) if m.any() else float("nan"),
                "n": int(m.sum()), "stars": int(len(set(np.asarray(table["true_star_id"])[m])))}

    out = {"all": {"BHB": frac(bhb), "A+B": frac(ab), "A": frac(hi & (labels == "A")),
                   "B": frac(hi & (labels == "B"))}}
    for lo, up in TEFF_BINS:
        m = (teff >= lo) & (teff < up)
        out[f"{lo / 1000:g}-{up / 1000:g} kK"] = {"BHB": frac(bhb & m), "A+B": frac(ab & m)}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--write", help="write the set derived on every star to this JSON file")
    args = ap.parse_args(argv)

    t0 = time.time()
    libs = load_real_templates(args.data)
    plan = FoldPlan.build(libs, n_folds=5, seed=0)
    # the doubtful star (LABEL_AUDIT) takes part in neither derivation nor scores
    doubtful = set(np.asarray(plan.stars["star_id"])[np.asarray(plan.stars["doubtful"], bool)])
    tables = {}
    for sim_name, (simulation, seed0) in SIMULATIONS.items():
        for mode, table in measure(libs, plan, simulation, seed0).items():
            keep = ~np.isin(np.asarray(table["true_star_id"]), sorted(doubtful))
            tables[(sim_name, mode)] = table[keep]
    print(f"rendered and measured in {time.time() - t0:.0f} s")

    train = tables[("standard", "assumed")]
    results = {}
    held = {key: np.zeros(len(t), bool) for key, t in tables.items()}
    before = {key: np.zeros(len(t), bool) for key, t in tables.items()}
    for k in range(plan.n_folds):
        fit_on = train[np.asarray(train["fold"]) != k]
        cset = derive(fit_on, name=f"lamost-fold{k}")
        old = derive(fit_on, name=f"lamost-no-gravity-fold{k}", cuts=CUTS_NO_GRAVITY)
        for key, t in tables.items():
            m = np.asarray(t["fold"]) == k
            held[key][m] = cset.evaluate(t[m])[0]
            before[key][m] = old.evaluate(t[m])[0]
    for key, t in tables.items():
        results[f"lamost {key[0]} resolution-{key[1]}"] = score(t, held[key])
        results[f"lamost-no-gravity {key[0]} resolution-{key[1]}"] = score(t, before[key])
        results[f"xue2008 {key[0]} resolution-{key[1]}"] = score(
            t, get_criteria("xue2008").evaluate(t)[0])
    for name, res in results.items():
        row = f"{name:40s}"
        for part, r in res.items():
            row += f" | {part}: BHB {r['BHB']['fraction']:6.1%}  A+B {r['A+B']['fraction']:5.1%}"
        print(row)

    record = {
        "how": ("real BHB/A/B stars of ../shared/data (MILES miles/ + miles_more/, SDSS "
                "spEigenStar templates; labels audited by bhbfinder.training.heldout."
                "LABEL_AUDIT, the doubtful star left out) rendered through the instrument model "
                "(HELD_OUT_SIMULATION), prepared and measured with the resolution assumed; "
                "derive_teff_criteria (teff_balmer, cak_excess and gravity_index fitted on the "
                "same stars) on renderings with S/N >= 15; held-out figures from the "
                "5 folds of FoldPlan(n_folds=5, seed=0), each fold scored by the set derived "
                "on the other four ('lamost-no-gravity': the same without the gravity_index "
                "cut); the shipped set is derived on every star"),
        "script": "scripts/derive_balmer_lamost.py",
        "derivation": {k: (list(v) if isinstance(v, tuple) else v) for k, v in
                       DERIVATION.items()},
        "min_snr_derive": MIN_SNR_DERIVE,
        "held_out": results,
    }
    final = derive(train, meta=record)
    print(final)
    if args.write:
        final.save(args.write, overwrite=True)
        print(f"wrote {args.write}")
    print(json.dumps(final.meta["chosen_quantiles"]))


if __name__ == "__main__":
    main()
