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

With ``--nested`` the completeness target ``min_completeness`` is also chosen by nested
cross-validation: for each outer fold, an inner cross-validation over the other four folds
(derive on three, score the fourth, pooled; standard resolution, resolution assumed,
S/N ≥ 20) scores each of `CANDIDATES` and `choose` picks one by a rule fixed before the run
(`shortfall` from the issue's targets, BHB ≥ 85 % and A+B ≤ 5 %; ties to the higher target);
the set derived on the four outer folds with that value scores the outer fold. The pooled
outer verdicts are printed as ``lamost-nested``, with each fold's choice, the 5-fold figures
of every candidate, and the rule's choice on those (what `DERIVATION` should hold). The
measurements are made once; only the derivations repeat (about 70 more, a few seconds).

``--teff-column`` and ``--metal-bound`` print, beside those figures, the held-out figures of
variants at every candidate ``min_completeness``: the bounds on another temperature coordinate
(``teff``: the params stage's held-out Teff, from the fold models of a
``benchmarks/held_out_stars.py`` work folder given as ``--params-workdir``; ``true_teff``: the
catalogue Teff, an oracle, which ``--teff-error`` offsets by a Gaussian error per star, as a
photometric temperature would carry) and an upper bound on the metallic-line index
(`METAL_CUT`). The shipped set is not changed by them.

A work folder given to ``--params-workdir`` or ``--generator-workdir`` must have been made on
this script's plan (its ``plan.json``; 5 folds, seed 0, twins grouped), else the script stops.

``--count-doubtful STAR_ID ...`` leaves more stars out of every derivation and score, as
`LABEL_AUDIT`'s doubtful stars are (HD 143459, ``MILES:0578``, is one: ``docs/heldout.rst``).

``--label-space N --generator-workdir HELDOUT`` prints the held-out figures of sets derived
with N label-space BHB stars per fold added (`label_space_rows`: Teff from
``--label-space-teff`` to 12,500 K, spectra from the generator a
``benchmarks/held_out_stars.py`` work folder fitted for that fold without its stars), to give
the bounds BHB stars where the real ones are few. The shipped set is not changed by them.
``--metal-poor JSON`` does the same with metal-poor copies of the hot MILES stars
(`metal_poor_rows`; e.g. ``'{"targets": [-1.3, -1.8], "only_classes": ["BHB"]}'``), with
the ``lamost`` and the ``lamost-phot`` settings.

``--colour-teff`` scores ``lamost-phot`` with a more realistic photometric temperature: each
star's from the synthetic g − r of its own template (``colour_teff_by_fold`` of
``benchmarks/colour_teff.py``; needs ``speclite``), with the sets derived fold by fold on
the 250 K stand-in and, for comparison, on the colour temperatures themselves.

Run (about two minutes on one core)::

    OMP_NUM_THREADS=1 python scripts/derive_balmer_lamost.py --data ../shared/data \\
        [--nested] [--write bhbfinder/data/balmer_lamost.json]
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from astropy.table import vstack

from bhbfinder.balmer import BalmerStage, get_criteria
from bhbfinder.balmer.criteria import (
    LAMOST_DESCRIPTION,
    LAMOST_REFERENCES,
    PHOTOMETRIC_DESCRIPTION,
)
from bhbfinder.balmer.derive import LAMOST_CUTS, METAL_CUT, derive_teff_criteria
from bhbfinder.spectra.prepare import prepare
from bhbfinder.training.heldout import (
    COARSE_SIMULATION,
    HELD_OUT_SIMULATION,
    PHOTOMETRIC_TEFF_ERROR,
    FoldPlan,
    load_real_templates,
    render_stars,
    star_normal,
)

#: Settings of the derivation (see `derive_teff_criteria`).
DERIVATION = {"teff_classes": ("BHB", "A"), "kernel": 700.0, "min_completeness": 0.95}
#: Renderings below this S/N do not shape the boundaries.
MIN_SNR_DERIVE = 15.0
#: The headline S/N limit.
MIN_SNR_SCORE = 20.0
#: The ``min_completeness`` values the nested cross-validation chooses from.
CANDIDATES = (0.85, 0.90, 0.95)
#: The issue's targets at S/N ≥ 20: BHB confirmed at least, A+B confirmed at most.
TARGET_BHB, TARGET_AB = 0.85, 0.05
TEFF_BINS = ((7000.0, 8500.0), (8500.0, 10000.0), (10000.0, 12000.0))
CLASSES = ("BHB", "A", "B")
SIMULATIONS = {"standard": (HELD_OUT_SIMULATION, 0), "coarse": (COARSE_SIMULATION, 500)}


def measure(libs, plan, simulation, seed0, params_workdir=None):
    """Render every fold's BHB/A/B stars, prepare, measure (resolution assumed and known);
    with ``params_workdir``, also the params stage's Teff from each fold's model there."""
    stars = plan.stars
    out = {"assumed": [], "known": []}
    for k in range(plan.n_folds):
        held = stars[(np.asarray(stars["fold"]) == k) & np.isin(stars["label"], CLASSES)]
        sim = render_stars(libs, held, seed=seed0 + k, simulation=simulation)
        params = None
        if params_workdir is not None:
            from bhbfinder.stages.params import ParamsStage

            params = ParamsStage(model=Path(params_workdir) / f"fold{k}" / "params.asdf",
                                 classes=None)
        for c0 in range(0, len(sim), 512):
            raw = sim.to_raw_batch(slice(c0, c0 + 512))
            batch = prepare(raw)
            teff = None if params is None else \
                params.run(prepare(raw, params.prepare_config))["teff"]
            meta = batch.meta
            truth = {key: np.asarray(meta[key]) for key in
                     ("label", "star_id", "teff", "logg", "feh", "snr_target", "source")}
            # the S/N with the template's own noise (render_stars)
            truth["snr"] = np.asarray(sim.meta["snr_effective"])[c0:c0 + 512]
            assert np.array_equal(truth["star_id"], sim.meta["star_id"][c0:c0 + 512])
            drawn = 4500.0 / np.asarray(meta["resolving_power"], float)
            # the rendering cannot be sharper than its template (MILES 2.5 Å, SDSS R 2000)
            floor = np.where(truth["source"] == "eigenstar", 4500.0 / 2000.0, 2.5)
            del meta["resolving_power"]
            for mode in ("assumed", "known"):
                if mode == "known":
                    meta["resolution_fwhm"] = np.maximum(drawn, floor)
                table = BalmerStage(criteria="xue2008").run(batch)
                if teff is not None:
                    table["teff"] = teff
                for key, value in truth.items():
                    table["true_" + key] = value
                table["fold"] = k
                table.meta = {}
                out[mode].append(table)
            del meta["resolution_fwhm"]
    return {mode: vstack(parts) for mode, parts in out.items()}


def label_space_rows(workdir, n_folds, n_bhb, teff_min, per_star=6, seed0=4000):
    """Label-space BHB stars for each fold's derivation, rendered and measured.

    For fold ``k`` the label-space generator of ``workdir/fold<k>/generator.asdf`` (fitted by
    ``benchmarks/held_out_stars.py`` without the fold's stars) gives ``n_bhb`` BHB stars
    (`~bhbfinder.simulate.generated.generated_templates`: labels inside the Culpan box with
    [Fe/H] < −0.9, Teff from ``teff_min`` to 12,500 K, within the generator's support), each
    rendered ``per_star`` times through `HELD_OUT_SIMULATION` and measured with the resolution
    assumed.

    Returns
    -------
    dict of Table
        Fold → measurements with the ``true_*`` columns of `measure`.
    """
    from bhbfinder.params.emulator import SlamEmulator
    from bhbfinder.simulate import SimulationConfig, simulate_rows
    from bhbfinder.simulate.generated import generated_templates

    config = SimulationConfig().replace(**HELD_OUT_SIMULATION)
    out = {}
    for k in range(n_folds):
        generator = SlamEmulator.load(Path(workdir) / f"fold{k}" / "generator.asdf")
        lib = generated_templates(generator, {"BHB": n_bhb}, seed=seed0 + k,
                                  space={"teff": (teff_min, 12500.0)})
        sim = simulate_rows(lib, np.repeat(np.arange(len(lib)), per_star),
                            np.random.default_rng(seed0 + 100 + k), config)
        out[k] = _measure_extra(sim)
    return out


def _measure_extra(sim):
    """Prepare and measure renderings of stars outside the plan (resolution assumed), with the
    ``true_*`` columns of `measure` and ``fold`` −1."""
    parts = []
    for c0 in range(0, len(sim), 512):
        batch = prepare(sim.to_raw_batch(slice(c0, c0 + 512)))
        truth = {key: np.asarray(batch.meta[key]) for key in
                 ("label", "star_id", "teff", "logg", "feh", "snr_target", "source")}
        truth["snr"] = truth["snr_target"]
        del batch.meta["resolving_power"]
        table = BalmerStage(criteria="xue2008").run(batch)
        for key, value in truth.items():
            table["true_" + key] = value
        table["fold"] = -1
        table.meta = {}
        parts.append(table)
    return vstack(parts)


def metal_poor_rows(libs, plan, options, per_star=6, seed0=5000):
    """Metal-poor copies of the real hot stars for each fold's derivation, rendered and
    measured.

    The copies (`~bhbfinder.simulate.metal_poor.metal_poor_copies` of the MILES stars with
    keyword arguments ``options``) are rendered ``per_star`` times through
    `HELD_OUT_SIMULATION` and measured with the resolution assumed; fold ``k`` gets those whose
    parent star is not held out in ``k``.

    Returns
    -------
    dict of Table
        Fold → measurements with the ``true_*`` columns of `measure`.
    """
    from bhbfinder.simulate import SimulationConfig, simulate_rows
    from bhbfinder.simulate.metal_poor import metal_poor_copies

    miles = [lib for lib in libs if Path(str(lib.meta.get("folder", ""))).name == "miles"]
    copies = metal_poor_copies(miles[0], **options)
    config = SimulationConfig().replace(**HELD_OUT_SIMULATION)
    rows = _measure_extra(simulate_rows(copies, np.repeat(np.arange(len(copies)), per_star),
                                        np.random.default_rng(seed0), config))
    parent = plan.fold_of(np.asarray(rows["true_star_id"]).astype(str))
    return {k: rows[parent != k] for k in range(plan.n_folds)}


def _values(table, key):
    return np.asarray(np.ma.filled(np.ma.asarray(table[key], dtype=float), np.nan), float)


#: The ``"lamost-phot"`` set: its bounds follow a photometric temperature, the column
#: ``teff_phot`` a user gives, and the metallic-line index is bounded too. It is derived on
#: the catalogue Teff offset by a Gaussian error of ``teff_error`` K per star (the same in
#: every rendering of a star, as a temperature from colours would carry), held-out figures
#: averaged over ``draws`` such offsets.
PHOTOMETRIC = {"name": "lamost-phot", "teff_column": "teff_phot",
               "teff_error": PHOTOMETRIC_TEFF_ERROR,
               "min_completeness": 0.95, "draws": 5}

#: The cuts of the set before the gravity index (scored for the comparison only).
CUTS_NO_GRAVITY = {k: v for k, v in LAMOST_CUTS.items() if k != "gravity_index"}


def derive(table, name="lamost", meta=None, cuts=None, **settings):
    """Derive a set on ``table`` with `DERIVATION`, updated by ``settings``."""
    labels = np.asarray(table["true_label"]).astype(str)
    return derive_teff_criteria(
        table, labels, _values(table, "true_teff"), _values(table, "true_feh"),
        star_ids=np.asarray(table["true_star_id"]).astype(str),
        rows=_values(table, "true_snr") >= MIN_SNR_DERIVE, name=name, cuts=cuts,
        description=LAMOST_DESCRIPTION, references=LAMOST_REFERENCES, meta=meta,
        **{**DERIVATION, **settings})


def held_out_verdicts(train, tables, folds, name="lamost", extra=None, **settings):
    """Cross-validated verdicts over ``folds``.

    Parameters
    ----------
    train : Table
        Measurements the sets are derived on (column ``fold``).
    tables : dict of Table
        Measurements to apply them to (column ``fold``).
    folds : sequence of int
        Each of these folds is scored by the set derived on the rows of ``train`` in the
        others.
    name : str
        Prefix of the sets' names.
    extra : dict of Table, optional
        Fold → more rows to derive that fold's set on (e.g. `label_space_rows`, made without
        the fold's stars).
    **settings
        Passed to `derive` (``cuts``, ``min_completeness``).

    Returns
    -------
    dict of ndarray of bool
        ``balmer_confirmed`` per row of each table (False outside ``folds``).
    """
    out = {key: np.zeros(len(t), bool) for key, t in tables.items()}
    fold = np.asarray(train["fold"])
    for k in folds:
        rows = train[np.isin(fold, folds) & (fold != k)]
        if extra is not None:
            cols = [c for c in rows.colnames if c in extra[k].colnames]
            rows = vstack([rows[cols], extra[k][cols]])
        cset = derive(rows, name=f"{name}-fold{k}", **settings)
        for key, t in tables.items():
            m = np.asarray(t["fold"]) == k
            out[key][m] = cset.evaluate(t[m])[0]
    return out


def candidate_verdicts(train, tables, folds, name="lamost", **settings):
    """`held_out_verdicts` at every ``min_completeness`` of `CANDIDATES`: ``{value: verdicts}``."""
    return {value: held_out_verdicts(train, tables, folds, name=name,
                                     **{**settings, "min_completeness": value})
            for value in CANDIDATES}


def print_candidates(label, tables, cv):
    """Print the scores of `candidate_verdicts` ``cv`` on every table, labelled ``label``."""
    _print({f"{label} {value:.2f} {key[0]} resolution-{key[1]}": score(t, v[key])
            for value, v in cv.items() for key, t in tables.items()})


def nested_verdicts(tables, cv, chosen):
    """Each table's verdicts with fold k's taken from the candidate ``chosen[k]`` of ``cv``."""
    out = {}
    for key, t in tables.items():
        fold = np.asarray(t["fold"])
        out[key] = np.zeros(len(t), bool)
        for k, value in enumerate(chosen):
            out[key][fold == k] = cv[value][key][fold == k]
    return out


def score(table, confirmed):
    """BHB and A+B confirmed fractions at S/N ≥ 20, overall and per Teff bin."""
    labels = np.asarray(table["true_label"]).astype(str)
    snr = _values(table, "true_snr")
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


def shortfall(scores):
    """How far the overall figures of `score` fall short of the issue's targets.

    Parameters
    ----------
    scores : dict
        As returned by `score`.

    Returns
    -------
    float
        ``max(0, TARGET_BHB - BHB) + max(0, A+B - TARGET_AB)`` (fractions); 0 on target.
    """
    bhb, ab = scores["all"]["BHB"]["fraction"], scores["all"]["A+B"]["fraction"]
    return max(0.0, TARGET_BHB - bhb) + max(0.0, ab - TARGET_AB)


def choose(scores_by_value):
    """The ``min_completeness`` of least `shortfall`; ties (within 1e-9) to the higher value.

    Parameters
    ----------
    scores_by_value : dict
        ``{min_completeness: scores of score}``.

    Returns
    -------
    float
    """
    best = None
    for value in sorted(scores_by_value, reverse=True):
        s = shortfall(scores_by_value[value])
        if best is None or s < best[1] - 1e-9:
            best = (value, s)
    return best[0]


def nested_choices(train, n_folds, **settings):
    """Each outer fold's ``min_completeness``, chosen by the inner cross-validation.

    Parameters
    ----------
    train : Table
        Standard-resolution measurements, resolution assumed (column ``fold``).
    n_folds : int
    **settings
        Passed to `derive` (``cuts``, ``teff_column``).

    Returns
    -------
    list of float
        The value `choose` picks for outer fold k from the pooled verdicts of the inner
        cross-validation over the other folds (derive on all but one, score that one).
    """
    chosen = []
    for k in range(n_folds):
        inner = [j for j in range(n_folds) if j != k]
        rows = np.isin(np.asarray(train["fold"]), inner)
        cv = candidate_verdicts(train, {"train": train}, inner, name=f"inner{k}", **settings)
        scores = {value: score(train[rows], v["train"][rows]) for value, v in cv.items()}
        chosen.append(choose(scores))
        print(f"outer fold {k}: inner shortfall " + ", ".join(
            f"{v:.2f}: {shortfall(s):.4f}" for v, s in scores.items()) + f" -> {chosen[-1]:.2f}")
    return chosen


def _teff_with_error(tables, column, sigma, seed=0):
    """Write ``column`` into every table: the catalogue Teff plus ``sigma`` K times one
    `~bhbfinder.training.heldout.star_normal` draw per star (seed ``seed``), as a photometric
    temperature would err. Unlike `~bhbfinder.training.heldout.photometric_teff` it keeps the
    catalogue Teff of stars the audit marks ``teff_contradicted`` (HD 89822 B): the shipped
    ``lamost-phot`` was derived so (docs/balmer.rst gives the figures the other way)."""
    for table in tables.values():
        table[column] = _values(table, "true_teff") + sigma * star_normal(
            np.asarray(table["true_star_id"]).astype(str), seed=seed)


def _print(results):
    for name, res in results.items():
        row = f"{name:40s}"
        for part, r in res.items():
            row += f" | {part}: BHB {r['BHB']['fraction']:6.1%}  A+B {r['A+B']['fraction']:5.1%}"
        print(row)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--write", help="write the set derived on every star to this JSON file")
    ap.add_argument("--nested", action="store_true",
                    help="also choose min_completeness by nested cross-validation")
    ap.add_argument("--teff-column", choices=("teff", "true_teff"),
                    help="also score sets whose bounds follow this temperature instead of "
                         "teff_balmer: the params stage's held-out Teff (needs "
                         "--params-workdir) or the catalogue Teff (an oracle)")
    ap.add_argument("--params-workdir",
                    help="a benchmarks/held_out_stars.py --workdir: fold<k>/params.asdf give "
                         "the held-out params Teff")
    ap.add_argument("--metal-bound", action="store_true",
                    help="also score sets with an upper bound on the metallic-line index")
    ap.add_argument("--teff-error", type=float, default=0.0, metavar="SIGMA",
                    help="with --teff-column true_teff: offset each star's catalogue Teff by "
                         "a Gaussian error of SIGMA K, the same in every rendering of the star "
                         "(as a photometric temperature's would be)")
    ap.add_argument("--photometric", action="store_true",
                    help="also derive and score the lamost-phot set (bounds on a photometric "
                         "Teff, PHOTOMETRIC)")
    ap.add_argument("--write-photometric",
                    help="write the lamost-phot set derived on every star to this JSON file")
    ap.add_argument("--colour-teff", action="store_true",
                    help="also score lamost-phot with teff_phot from each template's own "
                         "synthetic g - r (benchmarks/colour_teff.py colour_teff_by_fold; "
                         "needs speclite): the set derived on the 250 K stand-in, and one "
                         "derived on the colour temperatures themselves")
    ap.add_argument("--photometric-bias", type=float, default=0.0, metavar="K",
                    help="with --photometric: score the held-out folds with teff_phot moved "
                         "by K (a systematic error of the photometric temperature, e.g. from "
                         "the reddening); the sets are derived without it")
    ap.add_argument("--count-doubtful", nargs="+", default=[], metavar="STAR_ID",
                    help="also leave these stars (star_id, e.g. MILES:0519) out of the "
                         "derivations and the scores, as LABEL_AUDIT's doubtful stars")
    ap.add_argument("--label-space", type=int, default=0, metavar="N",
                    help="also score sets derived with N label-space BHB stars per fold added "
                         "(from the generators of --generator-workdir, fitted without the "
                         "fold's stars)")
    ap.add_argument("--label-space-teff", type=float, default=9500.0, metavar="K",
                    help="with --label-space: the lowest Teff of those stars (to 12,500 K)")
    ap.add_argument("--generator-workdir",
                    help="a benchmarks/held_out_stars.py --workdir: fold<k>/generator.asdf")
    ap.add_argument("--metal-poor", default=None, metavar="JSON",
                    help="also score sets derived with metal-poor copies of the hot MILES "
                         "stars added (bhbfinder.simulate.metal_poor.metal_poor_copies "
                         "keyword arguments as JSON; each fold without the copies of its own "
                         "stars), with the lamost and the lamost-phot settings")
    args = ap.parse_args(argv)
    if args.label_space and not args.generator_workdir:
        ap.error("--label-space needs --generator-workdir")
    if args.teff_column == "teff" and not args.params_workdir:
        ap.error("--teff-column teff needs --params-workdir")
    if args.teff_error and args.teff_column != "true_teff":
        ap.error("--teff-error goes with --teff-column true_teff")

    t0 = time.time()
    libs = load_real_templates(args.data)
    plan = FoldPlan.build(libs, n_folds=5, seed=0)
    for workdir in {args.params_workdir, args.generator_workdir} - {None}:
        recorded = Path(workdir) / "plan.json"
        if not recorded.is_file() or not plan.same_folds(json.loads(recorded.read_text())):
            ap.error(f"{workdir} was not made on this script's fold plan (5 folds, seed 0, "
                     f"twins grouped; its plan.json is missing or differs): its fold models "
                     f"would score stars they trained on. Make it with "
                     f"benchmarks/held_out_stars.py --fresh")
    # the doubtful stars (LABEL_AUDIT, --count-doubtful) take part in neither derivation nor
    # scores
    doubtful = set(np.asarray(plan.stars["star_id"])[np.asarray(plan.stars["doubtful"], bool)])
    unknown = sorted(set(args.count_doubtful) - set(np.asarray(plan.stars["star_id"]).astype(str)))
    if unknown:
        ap.error(f"--count-doubtful: no star {', '.join(unknown)} in the plan (e.g. MILES:0519)")
    doubtful |= set(args.count_doubtful)
    tables = {}
    for sim_name, (simulation, seed0) in SIMULATIONS.items():
        for mode, table in measure(libs, plan, simulation, seed0,
                                   params_workdir=args.params_workdir).items():
            keep = ~np.isin(np.asarray(table["true_star_id"]), sorted(doubtful))
            tables[(sim_name, mode)] = table[keep]
    print(f"rendered and measured in {time.time() - t0:.0f} s")
    if args.teff_error:
        _teff_with_error(tables, "teff_with_error", args.teff_error)

    train = tables[("standard", "assumed")]
    folds = range(plan.n_folds)
    results = {}
    held = held_out_verdicts(train, tables, folds)
    before = held_out_verdicts(train, tables, folds, name="lamost-no-gravity",
                               cuts=CUTS_NO_GRAVITY)
    for key, t in tables.items():
        results[f"lamost {key[0]} resolution-{key[1]}"] = score(t, held[key])
        results[f"lamost-no-gravity {key[0]} resolution-{key[1]}"] = score(t, before[key])
        results[f"xue2008 {key[0]} resolution-{key[1]}"] = score(
            t, get_criteria("xue2008").evaluate(t)[0])
    _print(results)

    if args.teff_column or args.metal_bound:
        cuts = {**LAMOST_CUTS, **(METAL_CUT if args.metal_bound else {})}
        name = "lamost" + (f" by {args.teff_column}" if args.teff_column else "") + \
            (f" (±{args.teff_error:g} K)" if args.teff_error else "") + \
            (" + metal_index" if args.metal_bound else "")
        print_candidates(name, tables, candidate_verdicts(
            train, tables, folds, name="lamost-variant", cuts=cuts,
            teff_column="teff_with_error" if args.teff_error else args.teff_column))

    if args.label_space:
        extra = label_space_rows(args.generator_workdir, plan.n_folds, args.label_space,
                                 args.label_space_teff)
        name = f"lamost + {args.label_space} label-space BHB >= {args.label_space_teff:g} K"
        print_candidates(name, tables, candidate_verdicts(train, tables, folds,
                                                          name="lamost-label-space",
                                                          extra=extra))

    if args.metal_poor is not None:
        extra = metal_poor_rows(libs, plan, json.loads(args.metal_poor))
        print_candidates(f"lamost + metal-poor copies {args.metal_poor}", tables,
                         candidate_verdicts(train, tables, folds, name="lamost-metal-poor",
                                            extra=extra))
        _teff_with_error(tables, PHOTOMETRIC["teff_column"], PHOTOMETRIC["teff_error"], 0)
        _teff_with_error(extra, PHOTOMETRIC["teff_column"], PHOTOMETRIC["teff_error"], 0)
        print_candidates(f"lamost-phot (draw 0) + metal-poor copies {args.metal_poor}", tables,
                         candidate_verdicts(train, tables, folds, name="phot-metal-poor",
                                            extra=extra, cuts={**LAMOST_CUTS, **METAL_CUT},
                                            teff_column=PHOTOMETRIC["teff_column"]))

    nested = None
    if args.nested:
        # every candidate's 5-fold verdicts; the nested verdict of fold k is that of its choice
        cv = candidate_verdicts(train, tables, folds)
        cv_scores = {value: score(train, v[("standard", "assumed")]) for value, v in cv.items()}
        _print({f"lamost min_completeness {value:.2f} standard resolution-assumed": s
                for value, s in cv_scores.items()})
        chosen = nested_choices(train, plan.n_folds)
        nested = {"chosen_per_fold": chosen, "candidates": list(CANDIDATES),
                  "rule": "least max(0, 0.85 - BHB) + max(0, A+B - 0.05) at S/N >= 20 "
                          "(standard resolution, assumed), ties to the higher value",
                  "five_fold_choice": choose(cv_scores), "held_out": {}}
        for key, verdict in nested_verdicts(tables, cv, chosen).items():
            nested["held_out"][f"lamost-nested {key[0]} resolution-{key[1]}"] = score(
                tables[key], verdict)
        _print(nested["held_out"])
        print("chosen per outer fold:", chosen, "| rule on the 5-fold figures:",
              nested["five_fold_choice"], "| DERIVATION:", DERIVATION["min_completeness"])

    record = {
        "how": ("real BHB/A/B stars of ../shared/data (MILES miles/ + miles_more/, SDSS "
                "spEigenStar templates; labels audited by bhbfinder.training.heldout."
                "LABEL_AUDIT, its doubtful stars left out) rendered through the instrument model "
                "(HELD_OUT_SIMULATION), prepared and measured with the resolution assumed; "
                "derive_teff_criteria (teff_balmer, cak_excess and gravity_index fitted on the "
                "same stars) on renderings with S/N >= 15 (the S/N a rendering has: its "
                "target and its template's own noise in quadrature, render_stars' "
                "snr_effective); held-out figures from the "
                "5 folds of FoldPlan(n_folds=5, seed=0), each fold scored by the set derived "
                "on the other four ('lamost-no-gravity': the same without the gravity_index "
                "cut); the shipped set is derived on every star"),
        "script": "scripts/derive_balmer_lamost.py",
        "derivation": {k: (list(v) if isinstance(v, tuple) else v) for k, v in
                       DERIVATION.items()},
        "min_snr_derive": MIN_SNR_DERIVE,
        "held_out": results,
    }
    if nested is not None:
        record["nested_min_completeness"] = nested
    if args.count_doubtful:
        record["also_left_out"] = sorted(args.count_doubtful)
    final = derive(train, meta=record)
    print(final)
    if args.write:
        final.save(args.write, overwrite=True)
        print(f"wrote {args.write}")
    print(json.dumps(final.meta["chosen_quantiles"]))
    if args.photometric or args.write_photometric:
        photometric(tables, plan, nested=args.nested, write=args.write_photometric,
                    bias=args.photometric_bias, also_left_out=args.count_doubtful)
    if args.colour_teff:
        colour_scores(tables, plan, libs)


def colour_scores(tables, plan, libs):
    """``lamost-phot``'s held-out figures with each star's ``teff_phot`` from the synthetic
    g − r of its own template (a relation fitted per fold on the other folds' stars,
    ``colour_teff_by_fold`` of ``benchmarks/colour_teff.py``): the sets derived fold by
    fold on the 250 K stand-in of `PHOTOMETRIC` (draw 0), and sets derived on the colour
    temperatures themselves. A star without one (a colour outside the relation's) is not
    confirmed."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from colour_teff import colour_teff_by_fold

    by_star = colour_teff_by_fold(libs, plan)
    column = PHOTOMETRIC["teff_column"]
    train = tables[("standard", "assumed")]
    folds = range(plan.n_folds)
    settings = {"cuts": {**LAMOST_CUTS, **METAL_CUT}, "teff_column": column,
                "min_completeness": PHOTOMETRIC["min_completeness"]}

    def colours(table):
        ids = np.asarray(table["true_star_id"]).astype(str)
        return np.array([by_star.get(sid, (np.nan, np.nan))[0] for sid in ids])

    _teff_with_error(tables, column, PHOTOMETRIC["teff_error"], 0)
    scored = {key: t.copy() for key, t in tables.items()}
    for t in scored.values():
        t[column] = colours(t)
    for name, derived_on in (("derived on the 250 K stand-in", train),
                             ("derived on the colour Teff", scored[("standard", "assumed")])):
        held = held_out_verdicts(derived_on, scored, folds, name="colour", **settings)
        _print({f"lamost-phot scored with colour Teff, {name}, {key[0]} resolution-{key[1]}":
                score(t, held[key]) for key, t in scored.items()})


def photometric(tables, plan, nested=False, write=None, bias=0.0, also_left_out=()):
    """Derive ``lamost-phot`` (`PHOTOMETRIC`) fold by fold and on every star; print and record
    its held-out figures (every draw of the temperature errors; nested by fold with
    ``nested``). ``bias`` (K) moves ``teff_phot`` where the held-out folds are scored (not
    where the sets are derived)."""
    train = tables[("standard", "assumed")]
    folds = range(plan.n_folds)
    settings = {"cuts": {**LAMOST_CUTS, **METAL_CUT},
                "teff_column": PHOTOMETRIC["teff_column"]}
    draws = {}
    for draw in range(PHOTOMETRIC["draws"]):
        _teff_with_error(tables, PHOTOMETRIC["teff_column"], PHOTOMETRIC["teff_error"], draw)
        scored = tables
        if bias:
            scored = {key: t.copy() for key, t in tables.items()}
            for t in scored.values():
                t[PHOTOMETRIC["teff_column"]] += bias
        held = held_out_verdicts(train, scored, folds, name="phot", **settings,
                                 min_completeness=PHOTOMETRIC["min_completeness"])
        draws[draw] = {f"{key[0]} resolution-{key[1]}": score(t, held[key])
                       for key, t in scored.items()}
        _print({f"lamost-phot draw {draw} {k}": v for k, v in draws[draw].items()})
    mean = {}
    for key in draws[0]:
        mean[key] = {part: {cls: float(np.mean([draws[d][key][part][cls]["fraction"]
                                                 for d in draws]))
                            for cls in ("BHB", "A+B")} for part in draws[0][key]}
        print(f"lamost-phot mean of {len(draws)} draws {key:28s} " + " | ".join(
            f"{part}: BHB {v['BHB']:6.1%}  A+B {v['A+B']:5.1%}" for part, v in mean[key].items()))
    _teff_with_error(tables, PHOTOMETRIC["teff_column"], PHOTOMETRIC["teff_error"], 0)
    record = {
        "how": ("as the 'lamost' set (see its meta), with the bounds on a photometric "
                "temperature: derived on the catalogue Teff offset by a Gaussian error of "
                f"{PHOTOMETRIC['teff_error']:g} K per star (the same in every rendering of the "
                "star; draw 0), the metallic-line index bounded too; held-out figures from "
                "the 5 folds, for each of the draws and their mean"),
        "script": "scripts/derive_balmer_lamost.py --photometric",
        "derivation": {**{k: (list(v) if isinstance(v, tuple) else v)
                          for k, v in DERIVATION.items()}, **PHOTOMETRIC},
        "held_out_draws": {str(d): v for d, v in draws.items()},
        "held_out_mean": mean,
    }
    if nested:
        cv = candidate_verdicts(train, tables, folds, name="phot", **settings)
        cv_scores = {value: score(train, v[("standard", "assumed")]) for value, v in cv.items()}
        chosen = nested_choices(train, plan.n_folds, **settings)
        held = {f"lamost-phot-nested {key[0]} resolution-{key[1]}": score(tables[key], verdict)
                for key, verdict in nested_verdicts(tables, cv, chosen).items()}
        _print(held)
        print("lamost-phot chosen per outer fold:", chosen, "| rule on the 5-fold figures:",
              choose(cv_scores), "| PHOTOMETRIC:", PHOTOMETRIC["min_completeness"])
        record["nested_min_completeness"] = {"chosen_per_fold": chosen,
                                             "five_fold_choice": choose(cv_scores),
                                             "held_out": held}
    if also_left_out:
        record["also_left_out"] = sorted(also_left_out)
    final = derive(train, name=PHOTOMETRIC["name"], meta=record, **settings,
                   min_completeness=PHOTOMETRIC["min_completeness"])
    final = replace(final, description=PHOTOMETRIC_DESCRIPTION)
    print(final)
    if write:
        final.save(write, overwrite=True)
        print(f"wrote {write}")


if __name__ == "__main__":
    main()
