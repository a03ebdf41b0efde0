"""Held-out-star evaluation of the whole decision: every real star scored by models that never
saw it.

For each fold of a `~bhbfinder.training.heldout.FoldPlan` over the real stars of the training
material (every real BHB star held out exactly once), this trains the classifier recipe (a
reduced budget by default, `~bhbfinder.training.folds.REDUCED_BUDGET`) and the params emulator
without the fold's stars, renders the held-out stars as LAMOST files through the instrument model
and runs `find_bhb` on them. Then it prints precision and recall of each decision (the network's
``is_bhb_candidate``, ``balmer_confirmed``, the parameters' Kiel box, and the calibrated
``is_bhb`` where a verdict is given), pooled, per real BHB star, per S/N and per Teff bin.

Every figure by S/N uses the S/N a rendering has with its template's own noise
(``true_snr``; `bhbfinder.training.heldout.render_stars`). A catalogue reused from a work
folder written before that, or before the current label audit, is brought up to both by
`bhbfinder.training.folds.update_truth` (its renderings and measurements stay as they are).

Everything a fold makes is kept under ``--workdir`` (``fold<k>/``: ``classifier.asdf``,
``params.asdf`` the params model with the shipped settings, ``generator.asdf`` the one-kernel
emulator the classifier's label-space stars come from, ``files/`` the standard renderings as
LAMOST files and ``rendering_<name>/files/`` those of each other rendering), so a rerun
reuses finished folds; ``--fresh`` retrains. (Before this release every rendering was written
to ``files/``, so there the last one rendered replaced the standard ones.) The fold
catalogues ``fold<k>/catalog_*.ecsv`` carry the ``p_bhb`` and
``is_bhb`` of the verdict the run applied (``--verdict``, else the shipped one, which was
fitted on these very renderings: held in); with ``--fit-verdict`` the out-of-fold verdict,
nested by fold, is written to ``catalog_<rendering>_nested.ecsv`` in the work folder.

With ``--fit-verdict``, ``--also-coarse`` (blue FWHM 3.2–4 Å), ``--also-error-scale`` /
``--also-noise-correlation`` (errors that misstate the noise) and ``--also-photometric SIGMA``
score other renderings of the same folds with the same fold models and nested fold verdicts
(``catalog_<rendering>_variants_nested.ecsv``). ``--also-photometric`` renders the standard
set again and gives each file a photometric ``teff_phot``: the star's catalogue Teff with a
per-star Gaussian error of SIGMA K (`bhbfinder.training.heldout.photometric_teff`, draw
``--photometric-seed``), which the params stage fits with the spectrum
(``docs/params.rst``, *A photometric temperature*); stars without a catalogue Teff (the SDSS
templates) get none. With ``--also-coarse`` as well, the coarse renderings are also scored
given the same photometric Teff.

Usage::

    python benchmarks/held_out_stars.py --data ../shared/data --workdir /tmp/heldout
    python benchmarks/held_out_stars.py --data ../shared/data --folds 0 --budget full
    python benchmarks/held_out_stars.py --data ../shared/data --shipped   # diagnostic only
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack


def _log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def _flag(cat, name):
    if name not in cat.colnames:
        return np.zeros(len(cat), bool)
    col = cat[name]
    return np.asarray(col.filled(False) if hasattr(col, "filled") else col, bool)


def _value(cat, name):
    col = cat[name]
    return np.asarray(col.filled(np.nan) if hasattr(col, "filled") else col, float)


def params_box(cat):
    """The parameters' verdict: their best fit in the BHB region (Culpan Kiel box, Teff at
    least 7,000 K, [Fe/H] < −0.8; `bhbfinder.verdict.features.in_bhb_region`)."""
    from bhbfinder.verdict.features import in_bhb_region

    return in_bhb_region(*(_value(cat, k) for k in ("teff", "logg", "feh")))


def decisions(cat):
    """The decisions scored: name -> boolean array."""
    s1 = np.asarray(cat["stage1_class"].filled("") if hasattr(cat["stage1_class"], "filled")
                    else cat["stage1_class"]).astype(str) == "BHB"
    out = {
        "network (is_bhb_candidate)": _flag(cat, "is_bhb_candidate"),
        "stage 1 says BHB": s1,
        "balmer_confirmed": _flag(cat, "balmer_confirmed"),
        "params: Kiel box & [Fe/H] < -0.8": params_box(cat),
        "stage 1 & balmer & params box": s1 & _flag(cat, "balmer_confirmed") & params_box(cat),
    }
    if "is_bhb" in cat.colnames:
        out["is_bhb (verdict)"] = _flag(cat, "is_bhb")
    return out


def report(cat, title, min_snr=10.0, nested=False):
    from bhbfinder.training.heldout import (
        average_precision,
        bootstrap_by_star,
        score_decisions,
        star_recall_table,
    )

    keep = (_value(cat, "true_snr") >= min_snr) & ~np.asarray(cat["true_doubtful"], bool)
    sub = cat[keep]
    truth = np.asarray(sub["true_label"]).astype(str) == "BHB"
    ok = np.asarray(sub["status"]).astype(str) == "ok"
    print(f"\n## {title}: {len(sub)} renderings at S/N >= {min_snr:g} "
          f"({truth.sum()} BHB of {len(np.unique(np.asarray(sub['true_star_id'])[truth]))} "
          f"stars; doubtful stars left out: {int((~keep).sum())} rows below S/N or doubtful)")
    print(f"{'decision':40s} {'precision':>9s} {'recall':>7s} {'FP':>5s} {'TP':>5s}")
    results = {}
    for name, dec in decisions(sub).items():
        s = score_decisions(truth, dec, ok=ok, snr=sub["true_snr"], teff=sub["true_teff"],
                            star_ids=sub["true_star_id"], labels=sub["true_label"])
        p = s["pooled"]
        results[name] = s
        print(f"{name:40s} {p['precision']:9.3f} {p['recall']:7.3f} {p['fp']:5d} {p['tp']:5d}")
    main = "is_bhb (verdict)" if "is_bhb" in cat.colnames else "network (is_bhb_candidate)"
    s = results[main]
    print(f"\n{main} by S/N:")
    for row in s["by_snr"]:
        print(f"  {row['range'][0]:5.0f}-{row['range'][1]:<5.0f} precision {row['precision']:.3f}"
              f" recall {row['recall']:.3f} (FP {row['fp']}, BHB {row['n_bhb']})")
    print(f"{main} by Teff:")
    for row in s["by_teff"]:
        print(f"  {row['range'][0]:6.0f}-{row['range'][1]:<6.0f} precision "
              f"{row['precision']:.3f} recall {row['recall']:.3f} (FP {row['fp']}, "
              f"BHB {row['n_bhb']})")
    print(f"{main} false positives by class: {s['false_positives_by_class']}")
    truth_meta = Table({"star_id": sub["true_star_id"], "template": sub["true_name"],
                        "label": sub["true_label"], "teff": sub["true_teff"],
                        "logg": sub["true_logg"], "feh": sub["true_feh"],
                        "snr_target": sub["true_snr"]})
    print(f"\n{main} per real BHB star:")
    star_recall_table(truth_meta, decisions(sub)[main], ok).pprint(max_lines=-1, max_width=-1)
    fp = ~truth & decisions(sub)[main] & ok
    if fp.any():
        names, counts = np.unique(np.asarray(sub["true_name"])[fp], return_counts=True)
        print("false positives by star:", dict(zip(names.tolist(), counts.tolist())))
    hi = _value(sub, "true_snr") >= 20
    s20 = score_decisions(truth[hi], decisions(sub)[main][hi], ok=ok[hi])["pooled"]
    print(f"{main} at S/N >= 20: precision {s20['precision']:.3f} recall {s20['recall']:.3f} "
          f"(FP {s20['fp']}, BHB {s20['n_bhb']})")
    if "p_bhb" in sub.colnames:
        ap = average_precision(_value(sub, "p_bhb"), truth)
        print(f"average precision of p_bhb at S/N >= {min_snr:g}: {ap:.3f}" + (
            " (nested by fold)" if nested else " (the verdict applied: not nested)"))
    for label, rows in ((f"S/N >= {min_snr:g}", np.ones(len(sub), bool)), ("S/N >= 20", hi)):
        boot = bootstrap_by_star(truth[rows], decisions(sub)[main][rows],
                                 sub["true_star_id"][rows], ok=ok[rows])
        print(f"{main}, {label}, stars resampled ({boot['n_stars'][0]} BHB, "
              f"{boot['n_stars'][1]} others; 68 % / 95 % intervals): " + "; ".join(
                  f"{key} {boot[key]['value']:.3f} ({boot[key][0.68][0]:.3f}-"
                  f"{boot[key][0.68][1]:.3f} / {boot[key][0.95][0]:.3f}-{boot[key][0.95][1]:.3f})"
                  for key in ("precision", "recall")))
    doubtful = np.asarray(cat["true_doubtful"], bool) & (_value(cat, "true_snr") >= min_snr)
    if doubtful.any():
        print("doubtful stars (left out above; published class, share called BHB):")
        dec = decisions(cat[doubtful])[main]
        names = np.asarray(cat["true_name"])[doubtful]
        labels = np.asarray(cat["true_label"])[doubtful]
        for name in np.unique(names):
            m = names == name
            print(f"  {name}: {labels[m][0]}, {dec[m].mean():.2f} of {m.sum()}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="../shared/data layout")
    parser.add_argument("--workdir", default="heldout-work")
    parser.add_argument("--cache", default=None, help="prepared-library cache folder")
    parser.add_argument("--n-folds", type=int, default=5)
    parser.add_argument("--folds", type=int, nargs="*", help="only these folds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--budget", default="reduced", choices=("reduced", "full"))
    parser.add_argument("--shipped", action="store_true",
                        help="score the shipped models (held-in: a diagnostic only)")
    parser.add_argument("--coarse", action="store_true",
                        help="render at the coarse end of the resolution range")
    parser.add_argument("--verdict", default=None,
                        help="a verdict model file to apply (default: none)")
    parser.add_argument("--fit-verdict", default=None, metavar="OUT.asdf",
                        help="fit the verdict on the folds' held-out outputs (nested by fold "
                             "for the report) and write the final model here")
    parser.add_argument("--verdict-l2", type=float, default=1.0)
    parser.add_argument("--verdict-interactions", action="store_true",
                        help="the verdict also weighs the products of pairs of features")
    parser.add_argument("--verdict-select", action="store_true",
                        help="choose the verdict's l2 and interactions by inner cross-validation "
                             "(nested inside every outer fold for the report; on all folds for "
                             "the final model), from VERDICT_CANDIDATES; overrides --verdict-l2 "
                             "and --verdict-interactions")
    parser.add_argument("--verdict-features", default="physical", choices=("physical", "all"),
                        help="the verdict's features: the physical evidence (default) or "
                             "that and the network's probabilities")
    parser.add_argument("--also-coarse", action="store_true",
                        help="with --fit-verdict: also render every fold's stars at the coarse "
                             "end of the resolution range and score them with the same nested "
                             "fold verdicts")
    parser.add_argument("--also-error-scale", type=float, default=None, metavar="FACTOR",
                        help="with --fit-verdict: also render every fold's stars with errors "
                             "FACTOR times the noise actually added, as real LAMOST files "
                             "report them (DR1: ~1.5), and score them with the same nested fold "
                             "verdicts")
    parser.add_argument("--also-noise-correlation", type=float, default=None, metavar="RHO",
                        help="with --fit-verdict: also render every fold's stars with the noise of "
                             "neighbouring pixels correlated by RHO (real LAMOST DR1 files: "
                             "~0.25); combined with --also-error-scale into one rendering")
    parser.add_argument("--also-photometric", type=float, default=None, metavar="SIGMA",
                        help="with --fit-verdict, also score the standard renderings given a "
                             "photometric Teff (the catalogue Teff with a per-star Gaussian "
                             "error of SIGMA K, e.g. 250; bhbfinder.training.heldout."
                             "photometric_teff) by the same fold models and verdicts")
    parser.add_argument("--also-colour-teff", action="store_true",
                        help="with --fit-verdict, also score the standard renderings given a "
                             "photometric Teff from each template's own synthetic SDSS g - r "
                             "(colour_teff.colour_teff_by_fold; needs speclite)")
    parser.add_argument("--photometric-seed", type=int, default=None, metavar="SEED",
                        help="seed of the per-star errors of --also-photometric (default "
                             "--seed)")
    parser.add_argument("--count-doubtful", nargs="+", default=[], metavar="STAR_ID",
                        help="also count these stars (star_id, e.g. MILES:0519) "
                             "as doubtful: left out of the scores and of the verdict's "
                             "calibration, reported apart; the fold models keep their class")
    parser.add_argument("--params-metal-poor", default=None, metavar="JSON",
                        help="fit the fold params models also to metal-poor copies of the hot "
                             "stars (bhbfinder.simulate.metal_poor.metal_poor_copies keyword "
                             "arguments as JSON, '{}' for its defaults; tried and left out, "
                             "docs/heldout.rst); only where a fold has no params model yet")
    parser.add_argument("--split-twins", action="store_true",
                        help="deal a star found in two libraries under two ids out as two "
                             "stars (FoldPlan.build(group_twins=False)): the plan of the "
                             "figures measured before the twins were grouped")
    parser.add_argument("--fresh", action="store_true", help="retrain every fold model")
    parser.add_argument("--rescore", action="store_true",
                        help="render and score the held-out stars again with the finished fold "
                             "models (after a change of the pipeline's measurements)")
    args = parser.parse_args(argv)

    from bhbfinder.training.folds import (
        REDUCED_BUDGET,
        run_fold,
        train_fold_classifier,
        train_fold_params,
        update_truth,
    )
    from bhbfinder.training.heldout import (
        COARSE_SIMULATION,
        HELD_OUT_SIMULATION,
        FoldPlan,
        load_real_templates,
        photometric_teff,
    )

    data = Path(args.data)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    libs = load_real_templates(data)
    plan = FoldPlan.build(libs, args.n_folds, args.seed, group_twins=not args.split_twins)
    _check_plan(work / "plan.json", plan, args.fresh, parser)
    (work / "plan.json").write_text(json.dumps(plan.to_dict()))
    folds = args.folds if args.folds else list(range(args.n_folds))
    arrays = params_lib = None
    tag = "coarse" if args.coarse else "standard"
    cats = []
    for k in folds:
        fdir = work / f"fold{k}"
        fdir.mkdir(exist_ok=True)
        out = fdir / f"catalog_{'shipped_' if args.shipped else ''}{tag}.ecsv"
        if out.is_file() and not (args.fresh or args.rescore):
            _log(f"fold {k}: reusing {out}")
            cats.append(update_truth(Table.read(out), plan, libs))
            continue
        clf_path, par_path = fdir / "classifier.asdf", fdir / "params.asdf"
        if args.shipped:
            clf_path = par_path = None
        else:
            from bhbfinder.params.emulator import SlamEmulator

            gen_path = fdir / "generator.asdf"
            from bhbfinder.classify.recipes import GENERATOR_HYPERPARAMS

            for path, hyper, what in ((par_path, None, "params model"),
                                      (gen_path, GENERATOR_HYPERPARAMS, "label-space generator")):
                if args.fresh or not path.is_file():
                    if params_lib is None:
                        params_lib = _params_material(data, libs, args.params_metal_poor)
                    library, star_ids, tuning = params_lib
                    errors = "default"
                    if hyper is None:   # the params model; the generator needs no errors
                        errors = _fold_errors(plan, libs, library, work, k)
                    train_fold_params(plan, k, library, star_ids, tuning,
                                      hyperparams=hyper, error_model=errors).save(path)
                    _log(f"fold {k}: {what} fitted")
            if args.fresh or not clf_path.is_file():
                from bhbfinder.classify.modelfile import save_model
                from bhbfinder.classify.recipes import RECIPES, _shares, prepared_arrays

                recipe = RECIPES[args.recipe]
                if _shares(recipe["library"])[1] > 0:
                    # label-space stars from this fold's one-kernel emulator (as the shipped
                    # recipe's generator), fitted without its stars
                    arrays = prepared_arrays(data, recipe, args.cache, log=_log,
                                             generator=SlamEmulator.load(gen_path))
                elif arrays is None:
                    arrays = prepared_arrays(data, recipe, args.cache, log=_log)
                t0 = time.time()
                budget = REDUCED_BUDGET if args.budget == "reduced" else {}
                clf, _ = train_fold_classifier(plan, k, arrays, recipe=args.recipe,
                                               budget=budget, log=_log)
                save_model(clf, clf_path)
                _log(f"fold {k}: classifier trained in {time.time() - t0:.0f} s")
        sim = COARSE_SIMULATION if args.coarse else None
        config = {"classify": {"stage2_rows": "all"}}
        stages = {}
        if args.verdict:
            config["verdict"] = {"model": args.verdict}
        cat = run_fold(plan, k, libs, fdir, classifier=clf_path, params_model=par_path,
                       stages=stages, config=config, seed=args.seed, simulation=sim)
        _write(cat, out)
        _log(f"fold {k}: {len(cat)} renderings scored")
        cats.append(cat)
    cat = vstack(cats, metadata_conflicts="silent")
    # other renderings of the same folds, scored by the same fold verdicts:
    # name -> (title, simulation, file_columns)
    variants = {}
    if args.fit_verdict and args.also_coarse:
        variants["coarse"] = ("coarse resolution (blue FWHM 3.2-4 A)", COARSE_SIMULATION, None)
    if args.fit_verdict and (args.also_error_scale or args.also_noise_correlation):
        s, rho = args.also_error_scale or 1.0, args.also_noise_correlation or 0.0
        name = f"errors{s:g}" + (f"_corr{rho:g}" if rho else "")
        variants[name] = (f"errors reported {s:g} x the noise, neighbouring pixels correlated "
                          f"by {rho:g}",
                          dict(HELD_OUT_SIMULATION, error_scale=s, noise_correlation=rho), None)
    if args.fit_verdict and args.also_photometric:
        sigma = float(args.also_photometric)
        draw = args.seed if args.photometric_seed is None else args.photometric_seed
        name = f"phot{sigma:g}" + (f"_draw{draw}" if draw != args.seed else "")
        title = (f"given a photometric Teff (catalogue Teff, per-star error {sigma:g} K, "
                 f"draw {draw})")

        def columns(truth):
            return photometric_teff(truth["star_id"], truth["teff"], sigma, seed=draw)

        variants[name] = (title, COARSE_SIMULATION if args.coarse else None, columns)
        if args.also_coarse:   # both at once: the coarse renderings given the same colours
            variants["coarse_" + name] = ("coarse resolution (blue FWHM 3.2-4 A), " + title,
                                          COARSE_SIMULATION, columns)
    if args.fit_verdict and args.also_colour_teff:
        from colour_teff import colour_teff_by_fold

        by_fold = colour_teff_by_fold(libs, plan)

        def colour_columns(truth):
            ids = np.asarray(truth["star_id"]).astype(str)
            rows = [by_fold.get(sid, (np.nan, np.nan)) for sid in ids]
            return {"teff_phot": np.array([r[0] for r in rows], float),
                    "teff_phot_err": np.array([r[1] for r in rows], float)}

        variants["colour_teff"] = (
            "given a photometric Teff from each template's synthetic g - r (relation fitted "
            "on the other folds' stars)", COARSE_SIMULATION if args.coarse else None,
            colour_columns)
    also = None
    if variants:
        also = vstack([_variant_catalog(plan, k, libs, work / f"fold{k}", args, name, sim,
                                        columns)
                       for name, (_, sim, columns) in variants.items() for k in folds],
                      metadata_conflicts="silent")
    for table in (cat, also):
        if table is not None and args.count_doubtful:
            _count_as_doubtful(table, args.count_doubtful)
    if args.fit_verdict:
        cat, also = fit_verdict(cat, args.fit_verdict, l2=args.verdict_l2,
                                interactions=args.verdict_interactions,
                                select=args.verdict_select, plan=plan,
                                recipe=args.recipe, budget=args.budget, tag=tag,
                                features=args.verdict_features, also=also)
    if args.fit_verdict:
        _write(cat, work / f"catalog_{tag}_nested.ecsv")
        if also is not None:
            _write(also, work / f"catalog_{tag}_variants_nested.ecsv")
    report(cat, f"held-out stars, {len(folds)} fold(s), {tag} resolution"
           + (" (SHIPPED MODELS: held-in diagnostic)" if args.shipped else ""),
           nested=bool(args.fit_verdict))
    for name, (title, _, _) in variants.items():
        rows = also[np.asarray(also["rendering"]).astype(str) == name]
        report(rows, f"held-out stars, {len(folds)} fold(s), {title}, fold verdicts fitted on "
                     "the standard renderings", nested=True)
    return cat


def _variant_catalog(plan, k, libs, fdir, args, name, simulation, file_columns=None):
    """Fold ``k``'s stars rendered with ``simulation`` and scored by the fold's models, given
    ``file_columns`` in the table of files (kept as ``catalog_<name>.ecsv``)."""
    from bhbfinder.training.folds import run_fold, update_truth

    out = fdir / f"catalog_{name}.ecsv"
    if out.is_file() and not (args.fresh or args.rescore):
        cat = update_truth(Table.read(out), plan, libs)
    else:
        # its own folder: fdir/files keeps the standard renderings the catalogue was made of
        cat = run_fold(plan, k, libs, fdir / f"rendering_{name}",
                       classifier=fdir / "classifier.asdf",
                       params_model=fdir / "params.asdf",
                       config={"classify": {"stage2_rows": "all"}}, seed=args.seed,
                       simulation=simulation, file_columns=file_columns)
        _write(cat, out)
        _log(f"fold {k}: {len(cat)} renderings ({name}) scored")
    cat["rendering"] = np.full(len(cat), name)
    return cat


def fit_verdict(cat, path, l2=1.0, plan=None, recipe=None, budget=None, tag=None,
                features="physical", also=None, interactions=False, select=False):
    """Cross-fit the verdict on the held-out outputs (``p_bhb``/``is_bhb`` of each fold from
    a model fitted on the other folds), then fit the final model on all folds and save it.

    ``select``: the settings (``l2``, ``interactions``) are chosen by
    `bhbfinder.training.verdict_selection` instead: inside every outer fold on the other folds
    (nested, for the report), and on all folds for the final model.

    ``also``: other renderings of the same folds (e.g. coarse resolution), scored by the same
    fold models; returned as the second value (None when not given)."""
    from bhbfinder.training.folds import plan_digest
    from bhbfinder.verdict import (
        FEATURE_NAMES,
        PHYSICAL_FEATURES,
        VerdictModel,
        choose_threshold,
        cross_fit,
        feature_matrix,
        out_of_fold_log_odds,
        reliability_table,
    )

    cat = cat.copy()
    usable = (np.asarray(cat["status"]).astype(str) == "ok") & \
        ~np.asarray(cat["true_doubtful"], bool)
    y = np.asarray(cat["true_label"]).astype(str) == "BHB"
    X = feature_matrix(cat)
    folds = np.asarray(cat["fold"], int)

    chosen = PHYSICAL_FEATURES if features == "physical" else FEATURE_NAMES
    settings = {"l2": l2, "interactions": interactions}
    selection = None
    if select:
        from bhbfinder.training.verdict_selection import nested_cross_fit, select_verdict

        score_rows = np.asarray(cat["true_snr"], float)[usable] >= 10.0
        p, decision, thresholds, fold_models, choices = nested_cross_fit(
            X[usable], y[usable], folds[usable], score_rows=score_rows, features=chosen)
        settings, scores = select_verdict(X[usable], y[usable], folds[usable],
                                          score_rows=score_rows, features=chosen)
        print("\nverdict settings chosen by inner cross-validation (average precision at "
              "S/N >= 10 of the out-of-fold log odds):")
        for k, (best, inner) in sorted(choices.items()):
            print(f"  outer fold {k}: {best}  ("
                  + ", ".join(f"{int(c['interactions'])}/{c['l2']:g}: {v:.3f}"
                              for c, v in inner) + ")")
        print(f"  all folds (final model): {settings}  ("
              + ", ".join(f"{int(c['interactions'])}/{c['l2']:g}: {v:.3f}" for c, v in scores)
              + ")")
        selection = {"candidates_scores": [[c, v] for c, v in scores],
                     "chosen": settings,
                     "nested_choices": {str(k): best for k, (best, _) in choices.items()}}

    def make():
        return VerdictModel(features=chosen, **settings)

    if not select:
        p, decision, thresholds, fold_models = cross_fit(X[usable], y[usable], folds[usable],
                                                         make, return_models=True)
    p_all = np.full(len(cat), np.nan)
    p_all[usable] = p
    dec_all = np.zeros(len(cat), bool)
    dec_all[usable] = decision
    # doubtful stars: scored by the final model (reported apart, never fitted on)
    model = make().fit(X[usable], y[usable])
    raw = out_of_fold_log_odds(X[usable], y[usable], folds[usable], make)
    model.calibrate(raw, y[usable])
    a, b = model.calibration_
    model.threshold_, achieved = choose_threshold(1 / (1 + np.exp(-(a * raw + b))), y[usable],
                                                  model.precision_target)
    doubt = ~usable & (np.asarray(cat["status"]).astype(str) == "ok")
    p_all[doubt] = model.predict_proba(X[doubt])
    dec_all[doubt] = p_all[doubt] >= model.threshold_
    cat["p_bhb"] = p_all
    cat["is_bhb"] = dec_all
    rel = reliability_table(p, y[usable])
    print("\nverdict weights (standardised):",
          {k: round(v, 2) for k, v in model.weights().items()})
    print("per-fold thresholds (nested):", {k: round(v, 3) for k, v in thresholds.items()})
    print(f"calibration of the final model: log odds x {a:.3f} + {b:.3f}")
    print(f"final threshold {model.threshold_:.3f} (out-of-fold precision "
          f"{achieved['precision']:.3f}, recall {achieved['recall']:.3f})")
    print("reliability (out-of-fold):")
    for row in rel:
        print(f"  p {row['range'][0]:.2f}-{row['range'][1]:.2f}: n {row['n']:5d} mean p "
              f"{row['mean_p']:.3f} observed {row['observed']:.3f} (+- {row['sigma']:.3f})")
    sids = np.asarray(cat["true_star_id"]).astype(str)
    model.meta = {
        "fitted_on": "out-of-fold outputs of the held-out-star evaluation "
                     "(benchmarks/held_out_stars.py): every row is a rendering of a real star "
                     "scored by classifier and params models trained without it",
        "recipe": recipe, "budget": budget, "rendering": tag,
        "plan": None if plan is None else {"n_folds": plan.n_folds, "seed": plan.seed,
                                           "digest": plan_digest(plan)},
        "n_rows": int(usable.sum()), "n_bhb_rows": int(y[usable].sum()),
        "n_bhb_stars": int(len(np.unique(sids[usable & y]))),
        "nested_thresholds": {str(k): float(v) for k, v in thresholds.items()},
        "selection": selection,
        "out_of_fold": {"precision": achieved["precision"], "recall": achieved["recall"]},
        "reliability": rel,
        "held_out_features": {"X": X[usable].astype(np.float32), "names": list(FEATURE_NAMES),
                              "y": y[usable],
                              "fold": folds[usable], "star_id": sids[usable].tolist(),
                              "snr": np.asarray(cat["true_snr"], float)[usable]},
    }
    model.save(path)
    _log(f"wrote {path}")
    if also is not None:
        also = also.copy()
        Xa = feature_matrix(also)
        ok_a = np.asarray(also["status"]).astype(str) == "ok"
        pa = np.full(len(also), np.nan)
        fa = np.asarray(also["fold"], int)
        for k, fold_model in fold_models.items():
            m = ok_a & (fa == k)
            pa[m] = fold_model.predict_proba(Xa[m])
        also["p_bhb"] = pa
        also["is_bhb"] = ok_a & (np.nan_to_num(pa) >= np.array(
            [fold_models[k].threshold_ if k in fold_models else 2.0 for k in fa]))
    return cat, also


def _count_as_doubtful(cat, star_ids):
    """Mark the renderings of ``star_ids`` doubtful (in place); an unknown id is an error."""
    ids = np.asarray(cat["true_star_id"]).astype(str)
    unknown = sorted(set(star_ids) - set(ids))
    if unknown:
        raise SystemExit(f"--count-doubtful: no renderings of {', '.join(unknown)} (give star "
                         "ids as in plan.json, e.g. MILES:0519)")
    cat["true_doubtful"] = np.asarray(cat["true_doubtful"], bool) | np.isin(ids, star_ids)


def _check_plan(path, plan, fresh, parser):
    """Stop where the work folder's models were made on another fold plan (another seed or
    fold count, or the twins dealt otherwise): reusing them would score stars that the fold's
    models trained on. ``--fresh`` retrains every fold, so the folder may be reused."""
    if fresh or not path.is_file():
        return
    if not plan.same_folds(json.loads(path.read_text())):
        parser.error(f"the work folder {path.parent} was made on another fold plan (its "
                     f"plan.json differs: another --seed, --n-folds or --split-twins, or a "
                     f"folder from before the twins were grouped); rerun with --fresh or "
                     f"give another --workdir")


def _fold_errors(plan, libs, library, work, fold):
    """The error calibration of fold ``fold``'s params model: the shipped model's for the plan
    it was validated on ("default"), else one fitted for this plan
    (`bhbfinder.training.params_recipe.fold_error_models`), kept in
    ``work/fold_error_models.json``."""
    from bhbfinder.params.uncertainty import ErrorModel
    from bhbfinder.training.folds import plan_digest, shipped_fold_error_model

    if shipped_fold_error_model(plan, fold) is not None:
        return "default"
    path = work / "fold_error_models.json"
    digest = plan_digest(plan)
    stored = json.loads(path.read_text()) if path.is_file() else {}
    if stored.get("digest") != digest:
        from bhbfinder.training.params_recipe import fold_error_models

        _log("fitting the params error calibration for this plan (the shipped one is for "
             "another)")
        models = fold_error_models(plan, libs, library)
        stored = {"digest": digest, "models": {str(k): m.to_dict() for k, m in models.items()}}
        path.write_text(json.dumps(stored, default=_plain))
    return ErrorModel.from_dict(stored["models"][str(fold)])


def _plain(value):
    """JSON for numpy values."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _params_material(data, libs, metal_poor=None):
    """The shipped params recipe's training library, its star ids and tuning data
    (``metal_poor``: JSON options of metal-poor copies added to it)."""
    from dataclasses import replace

    from bhbfinder.params.training import DEFAULT_TRAINING
    from bhbfinder.training.params_recipe import params_training_material

    config = None if metal_poor is None else replace(DEFAULT_TRAINING,
                                                     metal_poor=json.loads(metal_poor))
    return params_training_material(data, config)


def _write(cat, path):
    out = cat.copy(copy_data=False)
    out.meta = {}
    for name in out.colnames:
        if out[name].dtype == object:
            out[name] = out[name].astype(str)
    out.write(path, overwrite=True)


if __name__ == "__main__":
    main()
