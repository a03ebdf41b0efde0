"""Recorded training recipes: the library, preprocessing and training settings behind a model.

`DEFAULT_RECIPE` is exactly how the shipped ``bhbfinder/data/msfanet_default.asdf`` was made;
``bhbfinder train OUT.asdf --recipe default --data DIR`` (or `train_from_recipe`) reproduces it
from the real template material in ``DIR`` (the ``../shared/data`` layout: ``miles/``,
``miles_more/`` and ``templates/spEigenStar-55734.fits``).

Library (`build_recipe_library`)
    The default recipe (also named ``v2``) has three kinds of template: real stars (MILES
    ``miles/`` and ``miles_more/``, the SDSS stellar eigen-templates; labels audited by
    `~bhbfinder.training.heldout.LABEL_AUDIT`, doubtful stars left out), label-space stars
    (`bhbfinder.simulate.generated`: labels drawn densely about the Kiel-box edges and the
    metallicity boundary, spectra from the params emulator fitted to the params stage's MILES
    training stars) and the package's analytic model stars, with a blue-arm FWHM of 2–4 Å
    varying with wavelength. Per class ``n_per_class`` spectra are simulated (LAMOST-like
    resolution, RV, noise at S/N 10–100, flux-calibration distortions, bad pixels, cosmic rays,
    interstellar Ca II H & K; `bhbfinder.simulate`); ``shares`` (or ``empirical_share``) splits
    them between real, label-space and analytic stars where a class has them. The ``other``
    class also holds simulated galaxies, QSOs and noise (``junk_fraction_other``). Every
    spectrum carries its template's ``star_id``, so the split by star keeps all noisy copies of
    one template star in one split, and a held-out fold can drop every row of its stars. The
    previous recipe ``v1`` used MILES hot stars, SDSS templates and analytic stars at one
    resolution.
Preparation
    The default `~bhbfinder.spectra.prepare.PrepareConfig` (the blue 3800–5000 Å grid).
Training
    `~bhbfinder.classify.training.train_two_stage` with the recipe's architecture and
    training settings, on-the-fly augmentation on; stage 2 learns BHB against A, B, HotSD and
    other, the negatives weighted by how BHB-like stage 1 finds them (``stage2_hard_weight``),
    its epoch selected on the end-to-end validation precision at 90 % recall; its threshold
    keeps 90 % of the validation BHB spectra that stage 1 passes (``threshold_rule="recall"``:
    ``is_bhb_candidate`` is a candidate list, the final decision is the verdict's ``is_bhb``).
"""

import copy
import hashlib
import json
import time
from pathlib import Path

import numpy as np
from astropy.table import Table

from ..errors import ConfigurationError
from ..params.emulator import SlamEmulator
from ..params.training import DEFAULT_MODEL_HYPERPARAMS
from ..simulate.analytic import analytic_templates
from ..simulate.classes import CLASSES
from ..simulate.config import SimulationConfig
from ..simulate.generated import generated_templates
from ..simulate.simulated import SimulatedSpectra
from ..simulate.simulator import simulate
from ..spectra.prepare import PrepareConfig, prepare
from ..training.heldout import load_real_templates
from ..training.material import params_training_material

__all__ = ["DEFAULT_RECIPE", "RECIPE_V1", "RECIPES", "default_generator", "GENERATOR_HYPERPARAMS",
           "build_recipe_library", "prepared_arrays", "train_from_recipe", "train_from_labelled"]

#: The recipe of the previous shipped model (``v1``): MILES hot stars, SDSS templates and
#: analytic stars at one resolution; kept for before/after comparisons.
RECIPE_V1 = {
    "name": "v1",
    "library": {
        "n_per_class": 1500,
        "analytic_per_class": 400,
        "empirical_share": 0.5,
        "junk_fraction_other": 0.3,
        "seed": 2026,
        "simulation": {"ism_cak_ew": [0.0, 0.4]},
    },
    "prepare": {},
    "architecture": {"base": "default"},
    "input": {},
    "training": {"epochs_stage1": 36, "epochs_stage2": 28, "batch_size": 96, "seed": 0,
                 "stage2_select": "precision_at_recall", "stage2_hard_weight": 4.0},
    "stage2_negatives": ["A", "B", "HotSD", "other"],
    "augment": True,
}

#: The recipe of the shipped default model (see the module docstring): every real star of the
#: material (MILES ``miles/`` and ``miles_more/``, SDSS templates; labels audited), label-space
#: stars from the params emulator for BHB, A and B, analytic stars, and a blue-arm resolution
#: spread of 2–4 Å; trained with the budget of the held-out folds, so that the verdict
#: calibrated on the folds' outputs applies to it.
DEFAULT_RECIPE = {
    **RECIPE_V1,
    "name": "default",
    "library": {
        "n_per_class": 1500,
        "analytic_per_class": 400,
        "sources": ["miles", "miles_more", "eigenstar"],
        "shares": {"empirical": 0.34, "generated": 0.33},
        "generated_classes": ["BHB", "A", "B"],
        "generator": {"max_distance": 1.0},
        "junk_fraction_other": 0.3,
        "seed": 2026,
        "simulation": {"ism_cak_ew": [0.0, 0.4], "blue_fwhm": [2.0, 4.0],
                       "blue_fwhm_slope": [-0.1, 0.1], "distortion_sigma": 0.15},
    },
    "training": {**RECIPE_V1["training"], "epochs_stage1": 12, "epochs_stage2": 10,
                 "threshold_rule": "recall", "candidate_recall": 0.9},
}

#: Recipes by name.
RECIPES = {"default": DEFAULT_RECIPE, "v2": DEFAULT_RECIPE, "v1": RECIPE_V1}

_EIGEN = "templates/spEigenStar-55734.fits"

#: Arrays of a prepared-library cache; the last four are optional (older caches lack them).
_REQUIRED_ARRAYS = ("flux", "ivar", "mask", "labels", "star_ids", "wavelength")
_CACHED_ARRAYS = _REQUIRED_ARRAYS + ("snr", "teff", "logg", "feh")


def _template_sources(data_dir, rec, seed):
    """The empirical libraries (labels audited, doubtful stars left out) and analytic stars."""
    data_dir = Path(data_dir)
    sources = tuple(rec.get("sources", ("miles", "eigenstar")))
    try:
        empirical = load_real_templates(data_dir, sources=sources)
    except ConfigurationError:
        raise ConfigurationError(
            f"{data_dir}: none of the template sources {list(sources)} found (miles/, "
            f"miles_more/, {_EIGEN}); pass the folder of template material (the "
            "../shared/data layout) as --data") from None
    empirical = [lib.select(~np.asarray(lib.labels["doubtful"], bool)) for lib in empirical]
    analytic = analytic_templates(rec["analytic_per_class"], seed=seed)
    return empirical, analytic


def _shares(rec):
    if "shares" in rec:
        return float(rec["shares"].get("empirical", 0.0)), float(rec["shares"].get("generated",
                                                                                   0.0))
    return float(rec.get("empirical_share", 0.5)), 0.0


#: The label-space generator's emulator settings: the shipped params model's with one kernel
#: (``split_teff=None``): the shipped classifier was trained on that generator's spectra.
GENERATOR_HYPERPARAMS = dict(DEFAULT_MODEL_HYPERPARAMS, split_teff=None)


def default_generator(data_dir, hyperparams=None):
    """The label-space generator of the recipes: the params emulator fitted to the params
    stage's training library (`bhbfinder.training.params_recipe.params_training_material`;
    ``hyperparams`` default to `GENERATOR_HYPERPARAMS`)."""
    library, _, _ = params_training_material(data_dir)
    hp = dict(GENERATOR_HYPERPARAMS if hyperparams is None else hyperparams)
    return SlamEmulator(**hp).fit(library.flux, library.ivar, library.labels,
                                  wavelength=library.wavelength,
                                  prepare_config=library.prepare_config,
                                  provenance=library.provenance)


def build_recipe_library(data_dir, recipe=None, log=print, generator=None):
    """Simulate the training library a recipe describes.

    Parameters
    ----------
    data_dir : path-like
        Template material (the ``../shared/data`` layout).
    recipe : dict, optional
        Default `DEFAULT_RECIPE`.
    log : callable or None
    generator : object, optional
        The label-space generator (`bhbfinder.simulate.generated`); default
        `default_generator`. A held-out fold passes its own, fitted without its stars.

    Returns
    -------
    spectra : `~bhbfinder.simulate.simulated.SimulatedSpectra`
    provenance : dict
    """
    rec = copy.deepcopy((recipe or DEFAULT_RECIPE)["library"])
    log = log or (lambda *a: None)
    seed = int(rec["seed"])
    empirical, analytic = _template_sources(data_dir, rec, seed)
    share_emp, share_gen = _shares(rec)
    gen_classes = tuple(rec.get("generated_classes", ()))
    n = int(rec["n_per_class"])
    generated = None
    if share_gen > 0 and gen_classes:
        options = dict(rec.get("generator", {}))
        hyperparams = options.pop("emulator", None)
        if generator is None:
            log("fitting the label-space generator (params emulator on MILES)")
            generator = default_generator(data_dir, hyperparams)
        stars = int(round(n * share_gen))
        generated = generated_templates(generator, {c: stars for c in gen_classes}, seed=seed,
                                        **options)
    config = SimulationConfig().replace(**rec.get("simulation", {}))
    parts, counts = [], {}
    for ci, cls in enumerate(CLASSES):
        emp = [lib for lib in empirical if np.any(np.asarray(lib.labels["label"]) == cls)]
        n_junk = int(round(n * rec["junk_fraction_other"])) if cls == "other" else 0
        n_emp = int(round((n - n_junk) * share_emp)) if emp else 0
        n_gen = int(round((n - n_junk) * share_gen)) if generated is not None and \
            cls in gen_classes else 0
        n_ana = n - n_junk - n_emp - n_gen
        t0 = time.time()
        if n_emp:
            parts.append(simulate(emp, n_emp, seed=seed + 10 * ci + 1, config=config,
                                  classes=[cls]))
        if n_gen:
            parts.append(simulate(generated, n_gen, seed=seed + 10 * ci + 4, config=config,
                                  classes=[cls]))
        if n_ana:
            parts.append(simulate(analytic, n_ana, seed=seed + 10 * ci + 2, config=config,
                                  classes=[cls]))
        if n_junk:
            parts.append(simulate([], n_junk, seed=seed + 10 * ci + 3, config=config,
                                  junk_fraction=1.0))
        counts[cls] = {"empirical": n_emp, "generated": n_gen, "analytic": n_ana,
                       "junk": n_junk}
        log(f"library {cls}: {n_emp} empirical + {n_gen} generated + {n_ana} analytic + "
            f"{n_junk} junk ({time.time() - t0:.0f} s)")
    spectra = SimulatedSpectra.concatenate(parts)
    names = _library_names(empirical)
    prov = {
        "source": "bhbfinder.simulate: real template stars (labels audited, doubtful stars "
                  "left out) + label-space stars from the params emulator + analytic stars",
        "data_dir_contents": names + ["analytic"],
        "templates": {name: lib.class_counts() for name, lib in zip(names, empirical)},
        "analytic_templates": analytic.class_counts(),
        "generated_templates": None if generated is None else generated.class_counts(),
        "generator": None if generated is None else _generator_record(generator),
        "spectra_per_class": counts,
        "simulation_config": config.to_dict(),
        "recipe": rec,
    }
    return spectra, prov


def _library_names(libraries):
    """One distinct name per template library: the folder it was read from (``miles``,
    ``miles_more``) where it has one, else its source; repeats get ``_2``, ``_3``, ... (two
    libraries of one source must not share a provenance entry)."""
    names = []
    for lib in libraries:
        folder = (getattr(lib, "meta", None) or {}).get("folder")
        base = Path(folder).name if folder else (lib.source or "library")
        name, i = base, 1
        while name in names:
            i += 1
            name = f"{base}_{i}"
        names.append(name)
    return names


def _generator_record(generator):
    prov = (getattr(generator, "meta", None) or {}).get("provenance") or {}
    return {"kind": type(generator).__name__, "n_stars": prov.get("n_stars"),
            "held_out": prov.get("held_out"), "key": _generator_key(generator)}


def _generator_key(generator):
    """A short hash identifying a generator's fitted state (for cache keys)."""
    if generator is None:
        return None
    digest = hashlib.sha1()
    for name in ("train_labels_", "weights_", "length_scale_"):
        value = getattr(generator, name, None)
        if value is not None:
            digest.update(np.ascontiguousarray(value, float).tobytes())
    return digest.hexdigest()[:12]


def _library_key(recipe, generator, *subpackages):
    """What a cached library depends on: the recipe, the code, and the generator."""
    uses_generator = _shares(recipe["library"])[1] > 0
    code = _code_fingerprint(*subpackages, *(("params",) if uses_generator else ()))
    return {"library": recipe["library"], "code": code,
            "generator": _generator_key(generator) if uses_generator else None}


def _cached_library(data_dir, recipe, cache_dir, log, generator=None):
    """`build_recipe_library`, cached (simulated arrays + meta) under ``cache_dir``."""
    if cache_dir is None:
        return build_recipe_library(data_dir, recipe, log, generator)
    key = json.dumps(_library_key(recipe, generator, "simulate", "training"), sort_keys=True)
    folder = Path(cache_dir) / ("simulated_" + hashlib.sha1(key.encode()).hexdigest()[:12])
    names = ("flux", "ivar", "andmask", "ormask")
    if (folder / "provenance.json").is_file():
        log(f"using cached simulated library {folder}")
        arrays = [np.load(folder / f"{k}.npy") for k in names]
        meta = Table.read(folder / "meta.ecsv")
        return SimulatedSpectra(*arrays, meta), json.loads((folder / "provenance.json").read_text())
    spectra, prov = build_recipe_library(data_dir, recipe, log, generator)
    folder.mkdir(parents=True, exist_ok=True)
    for k in names:
        np.save(folder / f"{k}.npy", getattr(spectra, k))
    spectra.meta.write(folder / "meta.ecsv", overwrite=True)
    (folder / "provenance.json").write_text(json.dumps(prov, default=str))
    return spectra, prov


def prepared_arrays(data_dir, recipe=None, cache_dir=None, chunk=2000, log=print,
                    generator=None):
    """The recipe's library, prepared, as arrays (cached as ``.npy`` under ``cache_dir``).

    ``generator`` is the label-space generator (see `build_recipe_library`).

    Returns
    -------
    dict
        ``flux``, ``ivar``, ``mask``, ``labels``, ``star_ids``, ``wavelength``,
        ``prepare_config`` (dict), ``provenance`` (dict), and per row the simulated
        ``snr`` and the template's ``teff``, ``logg``, ``feh`` (for error analysis; absent from
        caches written before they were added); rows that failed preparation dropped.
    """
    recipe = recipe or DEFAULT_RECIPE
    log = log or (lambda *a: None)
    config = PrepareConfig.from_dict(recipe.get("prepare") or {}) if recipe.get("prepare") \
        else PrepareConfig()
    cache = None
    if cache_dir is not None:
        key = json.dumps(dict(_library_key(recipe, generator, "simulate", "spectra", "training"),
                              prepare=config.to_dict()), sort_keys=True)
        cache = Path(cache_dir) / ("library_" + hashlib.sha1(key.encode()).hexdigest()[:12])
        if (cache / "meta.json").is_file():
            log(f"using cached prepared library {cache}")
            meta = json.loads((cache / "meta.json").read_text())
            out = {k: np.load(cache / f"{k}.npy") for k in _CACHED_ARRAYS
                   if k in _REQUIRED_ARRAYS or (cache / f"{k}.npy").is_file()}
            out["prepare_config"] = meta["prepare_config"]
            out["provenance"] = meta["provenance"]
            return out
    spectra, prov = _cached_library(data_dir, recipe, cache_dir, log, generator)
    flux, ivar, mask, keep = [], [], [], []
    wave = None
    for start in range(0, len(spectra), chunk):
        batch = prepare(spectra.to_raw_batch(slice(start, start + chunk)), config)
        flux.append(batch.flux)
        ivar.append(batch.ivar)
        mask.append(batch.mask)
        keep.append(batch.ok)
        wave = batch.wavelength
        log(f"prepared {min(start + chunk, len(spectra))}/{len(spectra)}")
    keep = np.concatenate(keep)
    out = {
        "flux": np.concatenate(flux)[keep], "ivar": np.concatenate(ivar)[keep],
        "mask": np.concatenate(mask)[keep],
        "labels": spectra.labels[keep].astype("U8"),
        "star_ids": np.asarray(spectra.meta["star_id"]).astype(str)[keep],
        "wavelength": np.asarray(wave, float),
        "snr": np.asarray(spectra.meta["snr_target"], float)[keep],
        **{k: np.asarray(spectra.meta[k], float)[keep] for k in ("teff", "logg", "feh")},
        "prepare_config": config.to_dict(),
    }
    prov["n_failed_preparation"] = int((~keep).sum())
    out["provenance"] = prov
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for k in _CACHED_ARRAYS:
            np.save(cache / f"{k}.npy", out[k])
        (cache / "meta.json").write_text(json.dumps(
            {"prepare_config": out["prepare_config"], "provenance": prov}, default=str))
        log(f"cached prepared library in {cache}")
    return out


def _code_fingerprint(*subpackages, root=None):
    """A hash of the source of bhbfinder's ``subpackages``: part of the cache keys, so that a
    cache built by an older simulator or preprocessing is never reused (one was, once, and the
    shipped model then differed from what the recipe builds)."""
    root = Path(root) if root is not None else Path(__file__).resolve().parent.parent
    digest = hashlib.sha1()
    for name in subpackages:
        for path in sorted((root / name).glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _merge(recipe, overrides):
    rec = copy.deepcopy(RECIPES[recipe] if isinstance(recipe, str) else recipe)
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(rec.get(key), dict):
            rec[key].update(value)
        else:
            rec[key] = value
    return rec


def _train_and_save(output, arrays, rec, device, log, command, stage1_network=None):
    from .modelfile import save_model
    from .msfanet import architecture_config
    from .training import STAGE2_NEGATIVES, train_two_stage

    arch = dict(rec["architecture"])
    base = arch.pop("base", "default")
    clf, info = train_two_stage(
        (arrays["flux"], arrays["ivar"], arrays["labels"], arrays["star_ids"]),
        architecture=architecture_config(base, **arch), prepare_config=arrays["prepare_config"],
        wavelength=arrays["wavelength"], input_config=rec.get("input"),
        training=rec.get("training"), augment=rec.get("augment", True), device=device,
        stage2_negatives=tuple(rec.get("stage2_negatives", STAGE2_NEGATIVES)),
        provenance=dict(arrays["provenance"], recipe=rec, command=command), log=log,
        stage1_network=stage1_network)
    save_model(clf, output)
    log(f"wrote {output}")
    return clf, info


def train_from_labelled(output, source, labels_table, by="obsid", radius=3.0,
                        label_column="label", star_column=None, label_map=None,
                        recipe="default", device=None, overrides=None, log=print):
    """Train on real labelled survey spectra (see `~bhbfinder.classify.training.labelled_arrays`)
    with the architecture and training settings of ``recipe``; write ``output``.

    Returns
    -------
    classifier, info
    """
    from .training import labelled_arrays

    rec = _merge(recipe, overrides)
    arrays = labelled_arrays(source, labels_table, by=by, radius=radius,
                             label_column=label_column, star_column=star_column,
                             prepare_config=rec.get("prepare") or None, label_map=label_map)
    log(f"{len(arrays['labels'])} labelled spectra of {len(np.unique(arrays['star_ids']))} "
        "stars")
    return _train_and_save(output, arrays, rec, device, log,
                           f"bhbfinder train {Path(output).name} --spectra SOURCE --labels "
                           f"TABLE --join {by}")


def train_from_recipe(output, data_dir, recipe="default", cache_dir=None, device=None,
                      overrides=None, log=print, stage1_network=None):
    """Build, prepare and train as ``recipe`` says; write the model file ``output``.

    Parameters
    ----------
    output : path-like
    data_dir : path-like
        Template material (``miles/``, ``templates/spEigenStar-55734.fits``).
    recipe : str or dict
    cache_dir : path-like, optional
        Cache of the prepared library (``.npy``).
    overrides : dict, optional
        ``{"architecture": {...}, "training": {...}, ...}`` merged into the recipe.
    stage1_network : torch.nn.Module, optional
        The stage 1 of an earlier run of this recipe: only stage 2 is trained (stage 2 does
        not depend on the random state stage-1 training leaves, so this equals a full run).

    Returns
    -------
    classifier, info
        As `~bhbfinder.classify.training.train_two_stage`.
    """
    rec = _merge(recipe, overrides)
    arrays = prepared_arrays(data_dir, rec, cache_dir, log=log)
    return _train_and_save(output, arrays, rec, device, log,
                           f"bhbfinder train {Path(output).name} --recipe "
                           f"{rec.get('name', 'custom')} --data DATA_DIR",
                           stage1_network=stage1_network)
