"""The held-out verdict with the fold params models trained another way, on the same renderings.

``benchmarks/held_out_stars.py`` trains each fold's params emulator on the shipped library and
keeps what it made (``--workdir``: the fold models, the renderings as LAMOST files, the
catalogue with the nested verdict). This script retrains only the params emulators, with one
change to their training material, runs the params stage of each fold on that fold's stored
renderings (the rows the pipeline fitted), puts the new ``teff``/``logg``/``feh``, errors and
``p_bhb_region`` in the catalogue and cross-fits the verdict again (nested by fold, as the
headline). The classifier, the Balmer measurements and the renderings stay as they were, so a
difference comes from the params models alone. It prints the headline figures of:

``stored``
    the work folder's catalogue as it is (the script first checks that the stored fold
    models, run on the stored files, give its log g: that the files are its renderings);
``retrained``
    (with a change to the training material) the params models refitted on the shipped
    library (on one thread they reproduce the stored ones exactly, so this row equals
    ``stored`` where the catalogue was scored at the params stage's default tempering; for a
    catalogue scored at another, give it with ``--region-temper``, which then applies to this
    row too);
``variant``
    the change asked for:

    ``--label-estimates``
        the audit's estimates in place of placeholder labels
        (`~bhbfinder.training.heldout.label_estimates`: M5 II 53's log g 3.36 for 2.43);
    ``--leave-out STAR_ID ...``
        those stars left out of the params training (e.g. stars whose labels the audit
        questions);
    ``--bag K``
        K emulators per fold, each on a random ``--bag-fraction`` of the training stars, the
        stage's outputs averaged (labels and ``p_bhb_region`` the mean; errors with the
        members' spread added in quadrature);
    ``--region-temper T``
        the label posterior behind ``p_bhb_region`` tempered by T times the best fit's
        reduced χ² instead of `~bhbfinder.params.region.DEFAULT_TEMPER` times, in every row
        the script computes (with the stored models unless another option is given too; with
        another option, T = the tempering the catalogue was scored with compares that option
        alone, e.g. ``--label-estimates --region-temper 10`` for the figures of
        ``docs/heldout.rst`` measured before the tempering became 3);
    ``--region-kernel-error MODE``
        the label posterior weighs the params model's cool and hot kernels' model errors
        another way (`~bhbfinder.params.region.LabelGridPosterior`'s ``kernel_error``:
        ``normalised``, the whole Gaussian likelihood ``χ² + Σ ln(σ² + s²)``; ``common``, one
        model error, the mean of the kernels'), with the stored models unless another option
        is given;
    ``--spectrum-colour ERR``
        each rendering given a ``teff_phot`` from its own flux's colour
        (``colour_teff.pseudo_colour``: the colour of a flux-calibrated spectrum, which needs
        no photometry) through ``log10 Teff = cubic(colour)`` fitted for each fold on the
        other folds' templates (``colour_teff.relations_by_fold``), with ERR (mag) as the
        colour's error: the renderings' flux-calibration distortion spreads their colours by
        ~0.17 mag (``spectrum_colour.py``). With ``--colour-noise SIGMA`` the colour is
        instead the star's template's plus a Gaussian error of SIGMA, a calibration better
        than the renderings'. The stored models are used unless another option is given.

Figures (measured on the plans of ``docs/heldout.rst``) are in that page, *What limits it*.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/heldout_params_variants.py --data ../shared/data \\
        --workdir heldout --out /tmp/variants --label-estimates
"""

import argparse
import json
import os
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from astropy.table import Table

PARAMS_COLUMNS = ("teff", "teff_err", "logg", "logg_err", "feh", "feh_err", "p_bhb_region",
                  "p_second_solution")


def _log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fold_rows(cat, fold):
    """The catalogue rows of ``fold`` that the params stage fitted."""
    fitted = np.isfinite(np.ma.asarray(cat["p_bhb_region"]).astype(float).filled(np.nan))
    return np.flatnonzero(fitted & (np.asarray(cat["fold"], int) == fold))


def read_prepared(work, cat, fold, rows, prepare_config):
    """The stored renderings of ``rows`` read and prepared for the params models."""
    from bhbfinder.batch import RawBatch
    from bhbfinder.io.lamost import LamostReader
    from bhbfinder.stages.prepare import prepare

    reader = LamostReader()
    files = np.asarray(cat["file"]).astype(str)[rows]
    raw = RawBatch.from_records([reader.read_arrays(work / f"fold{fold}" / "files" /
                                                    os.path.basename(f)) for f in files])
    return prepare(raw, prepare_config)


def check_renderings(cat, rows, stored_values, fold, tolerance=1e-6):
    """Stop unless the fold's stored params model, run on the files, gives the catalogue's
    log g: the files must be the renderings the catalogue was made of."""
    logg = np.ma.asarray(cat["logg"]).astype(float).filled(np.nan)[rows]
    both = np.isfinite(logg) & np.isfinite(stored_values["logg"])
    worst = float(np.max(np.abs(logg[both] - stored_values["logg"][both]), initial=0.0))
    if worst > tolerance or both.sum() < 0.9 * len(rows):
        raise SystemExit(f"fold{fold}/files are not the renderings of the catalogue (the stored "
                         f"params model gives log g up to {worst:.3g} dex off on them): a work "
                         "folder of an earlier release keeps there the last rendering it made "
                         "(e.g. --also-coarse). Render the standard set again: move "
                         "fold*/catalog_standard.ecsv aside and rerun held_out_stars.py "
                         "--fit-verdict with the same options")


def file_colours(work, cat, fold, rows):
    """``colour_teff.pseudo_colour`` of the stored renderings of ``rows`` (the usable pixels:
    ``ivar > 0`` and not masked)."""
    from colour_teff import pseudo_colour

    from bhbfinder.io.lamost import read_lamost

    out = []
    for f in np.asarray(cat["file"]).astype(str)[rows]:
        arrays = read_lamost(work / f"fold{fold}" / "files" / os.path.basename(f))
        good = (np.asarray(arrays.ivar) > 0) & ~np.asarray(arrays.mask, bool)
        out.append(pseudo_colour(arrays.wavelength, arrays.flux, good))
    return np.array(out, float)


def with_teff_phot(prepared, teff, err):
    """A copy of a prepared batch whose meta has ``teff_phot`` and ``teff_phot_err``
    (NaN: masked, no prior)."""
    out = prepared.take(np.arange(len(prepared.meta)))
    out.meta["teff_phot"] = np.ma.masked_invalid(np.asarray(teff, float))
    out.meta["teff_phot_err"] = np.ma.masked_invalid(np.asarray(err, float))
    return out


def run_models(models, prepared, region_temper=None, kernel_error=None):
    """The params stage's columns from each model, combined (one model: its own);
    ``region_temper``: the stage's tempering of the label posterior (None: its default);
    ``kernel_error``: how the posterior weighs the kernels' model errors
    (`~bhbfinder.params.region.LabelGridPosterior`'s ``kernel_error``; None: its default)."""
    from bhbfinder.stages.params import ParamsStage

    options = {} if region_temper is None else {"region_temper": region_temper}
    outs = []
    for model in models:
        stage = ParamsStage(model=model, classes=None, **options)
        if kernel_error is not None:
            stage.region.kernel_error = kernel_error
        table = stage.run(prepared)
        outs.append({c: np.ma.asarray(table[c]).astype(float).filled(np.nan)
                     for c in PARAMS_COLUMNS})
    if len(outs) == 1:
        return outs[0]
    stack = {c: np.vstack([o[c] for o in outs]) for c in PARAMS_COLUMNS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # rows no member could fit
        combined = {c: np.nanmean(stack[c], axis=0) for c in ("teff", "logg", "feh",
                                                               "p_bhb_region",
                                                               "p_second_solution")}
        for c in ("teff", "logg", "feh"):
            combined[c + "_err"] = np.sqrt(np.nanmean(stack[c + "_err"] ** 2, axis=0)
                                           + np.nanvar(stack[c], axis=0))
    return combined


def with_columns(cat, values):
    """A copy of ``cat`` with the params columns of ``values`` (NaN: masked)."""
    out = cat.copy()
    for c, v in values.items():
        out[c] = np.ma.masked_invalid(v)
    return out


def nested_verdict(cat, l2=1.0, precision_target=0.95, features=None):
    """The verdict cross-fitted on a catalogue's rows, nested by fold as the headline is:
    ``(p_bhb, is_bhb, fold models)`` (NaN / False where a row failed or its star is
    doubtful; each fold model carries the threshold chosen on the other folds for
    ``precision_target``); ``features``: the verdict's (default the shipped
    `~bhbfinder.verdict.PHYSICAL_FEATURES`)."""
    from bhbfinder.verdict import PHYSICAL_FEATURES, VerdictModel, cross_fit, feature_matrix

    features = PHYSICAL_FEATURES if features is None else tuple(features)

    ok = (np.asarray(cat["status"]).astype(str) == "ok") & \
        ~np.asarray(cat["true_doubtful"], bool)
    y = np.asarray(cat["true_label"]).astype(str) == "BHB"
    p_ok, dec_ok, _, models = cross_fit(
        feature_matrix(cat)[ok], y[ok], np.asarray(cat["fold"], int)[ok],
        lambda: VerdictModel(features=features, l2=l2,
                             precision_target=precision_target),
        return_models=True)
    p = np.full(len(cat), np.nan)
    p[ok] = p_ok
    dec = np.zeros(len(cat), bool)
    dec[ok] = dec_ok
    return p, dec, models


def score_at(cat, decision, min_snr):
    """``(precision, recall, false positives, {BHB star: share found})`` of ``decision`` over
    the rows at ``min_snr`` or more, as ``held_out_stars.py --fit-verdict`` reports them
    (`~bhbfinder.training.heldout.score_decisions`: doubtful stars left out, a failed row a
    miss)."""
    from bhbfinder.training.heldout import score_decisions

    m = ~np.asarray(cat["true_doubtful"], bool) & (np.asarray(cat["true_snr"], float)
                                                   >= min_snr)
    y = np.asarray(cat["true_label"]).astype(str) == "BHB"
    ok = np.asarray(cat["status"]).astype(str) == "ok"
    s = score_decisions(y[m], np.asarray(decision, bool)[m], ok=ok[m],
                        star_ids=np.asarray(cat["true_name"]).astype(str)[m])
    stars = {n: v["fraction"] for n, v in s["by_star"].items() if v["bhb"]}
    return s["pooled"]["precision"], s["pooled"]["recall"], s["pooled"]["fp"], stars


def score(cat, l2=1.0, features=None):
    """The headline figures of a catalogue: the verdict cross-fitted (`nested_verdict`, with
    ``features``) and scored at S/N ≥ 10 and ≥ 20 (`score_at`), with its average precision
    at S/N ≥ 10."""
    from bhbfinder.training.heldout import average_precision

    p, dec, _ = nested_verdict(cat, l2, features=features)
    out = {}
    for lo in (10.0, 20.0):
        precision, recall, fp, stars = score_at(cat, dec, lo)
        out[f"snr{lo:g}"] = (precision, recall, fp)
        if lo == 20.0:
            out["stars"] = stars
    keep = (np.asarray(cat["true_snr"], float) >= 10.0) & \
        ~np.asarray(cat["true_doubtful"], bool)
    y = np.asarray(cat["true_label"]).astype(str) == "BHB"
    out["ap"] = average_precision(p[keep], y[keep])
    return out


def _print(label, s):
    p10, p20 = s["snr10"], s["snr20"]
    print(f"{label:10s} S/N >= 10: {p10[0]:.3f} / {p10[1]:.3f} (FP {p10[2]});  S/N >= 20: "
          f"{p20[0]:.3f} / {p20[1]:.3f} (FP {p20[2]});  average precision {s['ap']:.3f}")
    print("           per BHB star at S/N >= 20: "
          + ", ".join(f"{n} {v:.2f}" for n, v in s["stars"].items()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--workdir", required=True,
                    help="a benchmarks/held_out_stars.py --workdir run with --fit-verdict")
    ap.add_argument("--out", required=True, help="folder for the retrained params models")
    ap.add_argument("--label-estimates", action="store_true",
                    help="train on the audit's estimates of placeholder labels")
    ap.add_argument("--leave-out", nargs="+", default=[], metavar="STAR_ID",
                    help="leave these stars out of the params training")
    ap.add_argument("--bag", type=int, default=0, metavar="K",
                    help="K emulators per fold on random subsets of the training stars")
    ap.add_argument("--bag-fraction", type=float, default=0.85)
    ap.add_argument("--region-temper", type=float, default=None, metavar="T",
                    help="temper the label posterior by T in the rows computed")
    ap.add_argument("--region-kernel-error", choices=("normalised", "common"), default=None,
                    help="how the label posterior weighs the kernels' model errors")
    ap.add_argument("--spectrum-colour", type=float, default=None, metavar="ERR",
                    help="give each rendering a teff_phot from its own flux's colour, "
                         "of error ERR mag")
    ap.add_argument("--colour-noise", type=float, default=None, metavar="SIGMA",
                    help="with --spectrum-colour: the template's colour plus a Gaussian "
                         "error of SIGMA mag instead of the file's")
    ap.add_argument("--verdict-l2", type=float, default=1.0)
    args = ap.parse_args(argv)

    from held_out_stars import _fold_errors

    from bhbfinder.params.emulator import SlamEmulator
    from bhbfinder.training.folds import train_fold_params
    from bhbfinder.training.heldout import FoldPlan, load_real_templates
    from bhbfinder.training.material import params_training_material, with_label_estimates

    work, out = Path(args.workdir), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    catalog = work / "catalog_standard_nested.ecsv"
    if not catalog.is_file():
        ap.error(f"{catalog} not found: run benchmarks/held_out_stars.py --fit-verdict there")
    refit = bool(args.label_estimates or args.leave_out or args.bag)
    if not (refit or args.region_temper or args.region_kernel_error
            or args.spectrum_colour is not None):
        ap.error("give a variant: --label-estimates, --leave-out, --bag, --region-temper, "
                 "--region-kernel-error or --spectrum-colour")
    if args.colour_noise is not None and args.spectrum_colour is None:
        ap.error("--colour-noise goes with --spectrum-colour")
    libs = load_real_templates(args.data)
    recorded = json.loads((work / "plan.json").read_text())
    plan = FoldPlan.build(libs, n_folds=recorded["n_folds"], seed=recorded["seed"],
                          group_twins=True)
    if not plan.same_folds(recorded):
        ap.error(f"{work} was made on a plan with the twins split (or another plan); this "
                 "script rebuilds the grouped one")
    library, star_ids, _ = params_training_material(args.data)
    variant = library
    if args.label_estimates:
        variant, replaced = with_label_estimates(library)
        _log(f"labels replaced by the audit's estimates: {replaced}")
    ids = np.asarray(star_ids).astype(str)
    unknown = sorted(set(args.leave_out) - set(ids))
    if unknown:
        ap.error(f"--leave-out: {', '.join(unknown)} not in the params library")

    def subset(lib, keep):
        return replace(lib, flux=lib.flux[keep], ivar=lib.ivar[keep], labels=lib.labels[keep],
                       names=np.asarray(lib.names)[keep], star_ids=ids[keep])

    cat = Table.read(catalog)
    relations = None
    if args.spectrum_colour is not None:
        from colour_teff import relations_by_fold, template_pseudo_colours

        template_colour = template_pseudo_colours(libs)
        relations = relations_by_fold(plan, template_colour, name="pseudo")
        noise_rng = np.random.default_rng(plan.seed)
    rows_compared = ("retrained", "variant") if refit else ("variant",)
    new = {name: {c: np.full(len(cat), np.nan) for c in PARAMS_COLUMNS}
           for name in rows_compared}
    rng = np.random.default_rng(0)
    for k in range(plan.n_folds):
        stored = SlamEmulator.load(work / f"fold{k}" / "params.asdf")
        fold_models = {"variant": [stored]}
        if refit:
            errors = _fold_errors(plan, libs, library, work, k)
            fold_models["retrained"] = [train_fold_params(plan, k, library, ids, None,
                                                          error_model=errors)]
            keep = ~np.isin(ids, args.leave_out)
            if args.bag:
                members = [subset(variant, keep & (rng.random(len(ids)) < args.bag_fraction))
                           for _ in range(args.bag)]
            else:
                members = [subset(variant, keep)]
            fold_models["variant"] = []
            for j, lib in enumerate(members):
                path = out / f"fold{k}_params_{j}.asdf"
                model = train_fold_params(plan, k, lib, None, None, error_model=errors)
                model.save(path)
                fold_models["variant"].append(SlamEmulator.load(path))
        rows = fold_rows(cat, k)
        prepared = read_prepared(work, cat, k, rows, _prepare_config(stored))
        check_renderings(cat, rows, run_models([stored], prepared), k)
        batches = {"retrained": prepared, "variant": prepared}
        if relations is not None:
            if args.colour_noise is None:
                colour = file_colours(work, cat, k, rows)
            else:
                sids = np.asarray(cat["true_star_id"]).astype(str)[rows]
                colour = (np.array([template_colour.get(s, np.nan) for s in sids])
                          + noise_rng.normal(0.0, args.colour_noise, len(rows)))
            batches["variant"] = with_teff_phot(prepared, *relations[k].teff(
                colour, args.spectrum_colour))
        for name in rows_compared:
            values = run_models(fold_models[name], batches[name], args.region_temper,
                                args.region_kernel_error if name == "variant" else None)
            for c in PARAMS_COLUMNS:
                new[name][c][rows] = values[c]
        _log(f"fold {k}: {len(rows)} renderings refitted "
             f"({len(fold_models['variant'])} variant model(s))")
    _print("stored", score(cat, args.verdict_l2))
    for name in rows_compared:
        _print(name, score(with_columns(cat, new[name]), args.verdict_l2))


def _prepare_config(model):
    """The preprocessing the params stage asks of its input for ``model``."""
    from bhbfinder.stages.params import ParamsStage

    return ParamsStage(model=model, classes=None).prepare_config


if __name__ == "__main__":
    main()
