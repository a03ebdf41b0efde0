"""Training and validation libraries for the params stage, built with the package's own tools.

Every spectrum the emulator learns from goes through exactly what the pipeline does to a real
LAMOST spectrum: a MILES star (Sánchez-Blázquez et al. 2006; Falcón-Barroso et al. 2011) is
degraded to LAMOST resolution, sampled on the LAMOST pixel grid with the simulator's instrument
model (flux-calibration distortion, noise, bad pixels; `bhbfinder.simulate.simulate_rows`), and
then prepared by the ``prepare`` stage (`bhbfinder.stages.prepare.prepare`) with a given
`~bhbfinder.spectra.prepare.PrepareConfig` (default: the package default). A training spectrum is
the inverse-variance weighted mean of several such prepared realisations, so it carries the same
continuum-normalisation behaviour as the spectra the model will see, at a higher S/N.

`train_default_model` builds the shipped ``bhbfinder/data/slam_hot_default.asdf``;
``scripts/train_slam_default.py`` calls it.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

from ..errors import ConfigurationError
from ..simulate import (
    SimulationConfig,
    TemplateLibrary,
    analytic_templates,
    load_miles,
    simulate_rows,
)
from ..spectra.prepare import PrepareConfig, prepare_arrays
from .emulator import LABEL_NAMES, SlamEmulator

#: Hyper-parameters of the shipped model: Huber-style down-weighting of training stars the others
#: do not predict, and length scales / ridge term by closed-form leave-one-out flux error (the
#: label objective of earlier versions, ``{"robust_clip": 1.5, "objective": "labels"}``, gave
#: fold-to-fold length scales differing by factors of up to 6 and no better held-out labels).
#: Fits with a reduced χ² above 2 are flagged (on held-out renderings their labels are off by
#: 2-3 times more than the others' and their errors cover the truth in a third of the cases).
#: The tuning counts only the training stars of 7000–13000 K (``tune_teff``): the cooler and
#: hotter ones are there to keep the domain's edges away from the stars the model is for.
#: Separate cool and hot kernels (``split_teff``; issue 16): besides the kernel of the whole
#: library, one fitted on the stars up to 11000 K and one on those from 8000 K, each tuned on
#: its side of 9000–10000 K (cool: 7000–10000 K, hot: 9000–13000 K), chosen by the whole
#: kernel's first-pass Teff and blended over 9000–10000 K (on held-out stars, field S/N ≥ 30:
#: log g 0.32 → 0.22 dex at 10000–13000 K, 0.39 → 0.33 dex at 7000–10000 K; ``docs/params.rst``).
DEFAULT_MODEL_HYPERPARAMS = {"robust_clip": 1.5, "objective": "flux", "max_reduced_chi2": 2.0,
                             "tune_teff": (7000.0, 13000.0), "split_teff": (9000.0, 10000.0),
                             "split_pad": 1000.0}

__all__ = ["DEFAULT_MODEL_HYPERPARAMS", "TRAINING_SPREAD", "DEFAULT_TRAINING",
           "MilesTrainingConfig", "MilesLibrary", "miles_library",
           "miles_observations", "analytic_library", "ANALYTIC_BOX",
           "leave_one_star_out", "nested_leave_one_star_out", "scatter_table", "fit_library",
           "train_default_model"]


@dataclass(frozen=True)
class MilesTrainingConfig:
    """How the MILES training library is made.

    Attributes
    ----------
    snr : float
        g-band S/N of each simulated realisation (the simulator's noise model).
    n_realisations : int
        Prepared realisations averaged into one training spectrum per star (S/N ≈
        ``snr * sqrt(n_realisations)``).
    seed : int
        Seed of the simulator.
    teff_range : (float, float)
        Stars kept (K).
    tuning_seed : int
        Seed of one more observation of each star at ``snr``, on which the hyper-parameters
        are tuned (``objective="labels"``); independent of the training and validation noise.
    labels : str
        The MILES label table (a file in the MILES folder).
    more : tuple of (str, str)
        Further MILES folders and their label tables, ``(folder, labels)``; a relative folder
        is taken beside the main one (``("miles_more", "miles_more_labels.csv")`` adds the
        rest of the library in ``../shared/data``).
    simulation : dict, optional
        `~bhbfinder.simulate.SimulationConfig` overrides of the training renderings (default:
        the simulator's defaults at rest, ``rv=0``). The radial velocity and S/N of every
        realisation are those of ``simulation`` when it names them, else 0 km/s and ``snr``.
    metal_poor : dict, optional
        Also train on metal-poor copies of the hot stars
        (`~bhbfinder.simulate.metal_poor.metal_poor_copies` with these keyword arguments;
        ``{}`` for its defaults); None (default): none.
    """

    snr: float = 50.0
    n_realisations: int = 12
    seed: int = 20260601
    teff_range: tuple = (6500.0, 13000.0)
    tuning_seed: int = 2
    labels: str = "miles_hot_labels.csv"
    more: tuple = ()
    simulation: dict | None = None
    metal_poor: dict | None = None

    def __post_init__(self):
        object.__setattr__(self, "teff_range", tuple(float(t) for t in self.teff_range))
        object.__setattr__(self, "more", tuple(tuple(str(x) for x in pair)
                                               for pair in self.more))
        for pair in self.more:
            if len(pair) != 2:
                raise ConfigurationError(f"MilesTrainingConfig.more: {pair!r} is not a "
                                         "(folder, label table) pair")

    def to_dict(self):
        out = asdict(self)
        out["teff_range"] = list(self.teff_range)
        out["more"] = [list(pair) for pair in self.more]
        out["simulation"] = None if self.simulation is None else {
            k: list(v) if isinstance(v, tuple) else v for k, v in self.simulation.items()}
        if self.metal_poor is None:
            del out["metal_poor"]      # records of models trained before the option match
        else:
            out["metal_poor"] = {k: list(v) if isinstance(v, tuple) else v
                                 for k, v in self.metal_poor.items()}
        return out

    def __hash__(self):  # a dict field: hash the plain record
        return hash(repr(self.to_dict()))


#: Instrument spread of the shipped model's training renderings (overrides of
#: `~bhbfinder.simulate.SimulationConfig`): the instrument effects of the held-out renderings
#: (`bhbfinder.training.heldout.HELD_OUT_SIMULATION` adds noise and velocities), so that
#: the averaged training spectrum of a star is its mean over LAMOST's blue-arm resolutions
#: (FWHM 2–4 Å), calibration tilts, masked segments, cosmic rays and interstellar Ca II K.
TRAINING_SPREAD = {
    "blue_fwhm": (2.0, 4.0),
    "blue_fwhm_slope": (-0.1, 0.1),
    "distortion_sigma": 0.15,
    "dichroic_step": 0.03,
    "bad_segment_rate": 1.0,
    "cosmic_rate": 1.5,
    "ism_cak_ew": (0.0, 0.4),
}

#: The shipped model's library: every MILES star of 6000–16000 K with complete labels, from
#: ``miles/`` and ``miles_more/`` (so 6500 K and 13000 K, the ends of the hot-star folder, are
#: inside the domain), rendered with `TRAINING_SPREAD`.
DEFAULT_TRAINING = MilesTrainingConfig(
    teff_range=(6000.0, 16000.0), more=(("miles_more", "miles_more_labels.csv"),),
    simulation=TRAINING_SPREAD)


@dataclass
class MilesLibrary:
    """Prepared MILES spectra and their labels.

    Attributes
    ----------
    wavelength : ndarray, shape (npix,)
    flux, ivar : ndarray, shape (n, npix)
    labels : ndarray, shape (n, 3)
        Teff (K), log g, [Fe/H] from the MILES table.
    names : ndarray of str
    prepare_config : dict
    provenance : dict
    star_ids : ndarray of str, optional
        ``star_id`` of each row (``MILES:0974``), as in
        `~bhbfinder.training.heldout.FoldPlan`.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    labels: np.ndarray
    names: np.ndarray
    prepare_config: dict
    provenance: dict
    star_ids: np.ndarray | None = None


def _load_folders(folder, config):
    """One `TemplateLibrary` of the main MILES folder and ``config.more``."""
    folder = Path(folder)
    libs = [load_miles(folder, labels=config.labels)]
    for extra, labels in config.more:
        path = Path(extra)
        if not path.is_absolute():
            path = folder.parent / path
        libs.append(load_miles(path, labels=labels))
    if len(libs) == 1:
        return libs[0]
    first = libs[0]
    for lib in libs[1:]:
        if lib.wavelength.shape != first.wavelength.shape or \
                not np.allclose(lib.wavelength, first.wavelength) or lib.fwhm != first.fwhm:
            raise ConfigurationError(f"{lib.meta.get('folder')}: not on the wavelength grid and "
                                     f"resolution of {first.meta.get('folder')}; MILES folders "
                                     "of one release only")
    labels = vstack([lib.labels for lib in libs], metadata_conflicts="silent")
    if len(np.unique(np.asarray(labels["star_id"]))) != len(labels):
        raise ConfigurationError("a MILES star occurs in two of the folders "
                                 f"{[str(lib.meta.get('folder')) for lib in libs]}")
    return TemplateLibrary(first.wavelength, np.vstack([lib.flux for lib in libs]), labels,
                           fwhm=first.fwhm, meta=dict(first.meta, folders=[
                               str(lib.meta.get("folder")) for lib in libs]))


def _templates(folder, config):
    lib = _load_folders(folder, config)
    if config.metal_poor is not None:
        from ..simulate.metal_poor import with_metal_poor_copies

        lib = with_metal_poor_copies(lib, **config.metal_poor)
    labels = np.column_stack([np.asarray(lib.labels[c], float) for c in LABEL_NAMES])
    lo, hi = config.teff_range
    keep = np.isfinite(labels).all(axis=1) & (labels[:, 0] >= lo) & (labels[:, 0] <= hi)
    if not keep.any():
        raise ConfigurationError(f"no MILES star in {folder} has complete labels within "
                                 f"{lo}–{hi} K")
    return lib, np.flatnonzero(keep), labels[keep]


def _prepare_realisation(lib, rows, seed, snr, prepare_config, simulation=None):
    if isinstance(simulation, dict):  # overrides: their own RV and S/N draws when named
        sim_config = SimulationConfig(rv=0.0).replace(**simulation)
        rv = None if "rv" in simulation else np.zeros(rows.size)
        snrs = None if "snr" in simulation else np.full(rows.size, float(snr))
    else:
        sim_config = simulation or SimulationConfig(rv=0.0)
        rv, snrs = np.zeros(rows.size), np.full(rows.size, float(snr))
    sims = simulate_rows(lib, rows, seed, sim_config, rv=rv, snr=snrs)
    prepared = prepare_arrays(sims.to_raw_batch(), prepare_config)
    ok = np.asarray(prepared.meta["status"]) == "ok"
    ivar = np.where(ok[:, None] & ~prepared.mask, prepared.ivar, 0.0).astype(float)
    return prepared, ivar


def _configs(config, prepare_config, simulation):
    """The training, preparation and simulation settings, defaults filled in."""
    config = config or MilesTrainingConfig()
    prepare_config = prepare_config if prepare_config is not None else PrepareConfig()
    if isinstance(prepare_config, dict):
        prepare_config = PrepareConfig.from_dict(prepare_config)
    return config, prepare_config, config.simulation if simulation is None else simulation


def miles_library(folder, config=None, prepare_config=None, simulation=None):
    """The MILES hot-star training library, prepared like pipeline spectra.

    Parameters
    ----------
    folder : path-like
        The MILES folder (``../shared/data/miles``).
    config : `MilesTrainingConfig`, optional
    prepare_config : `~bhbfinder.spectra.prepare.PrepareConfig` or dict, optional
        Default: the package default.
    simulation : `~bhbfinder.simulate.SimulationConfig` or dict, optional
        Instrument model (default ``config.simulation``, else the simulator's at zero radial
        velocity); a dict gives overrides (see `MilesTrainingConfig`).

    Returns
    -------
    `MilesLibrary`
    """

    config, prepare_config, simulation = _configs(config, prepare_config, simulation)
    lib, rows, labels = _templates(folder, config)
    num = 0.0
    den = 0.0
    for k in range(config.n_realisations):
        prepared, ivar = _prepare_realisation(lib, rows, config.seed + k, config.snr,
                                              prepare_config, simulation)
        num = num + ivar * prepared.flux
        den = den + ivar
    flux = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)
    names = np.asarray(lib.labels["name"]).astype(str)[rows]
    star_ids = np.asarray(lib.labels["star_id"]).astype(str)[rows]
    provenance = {
        "library": "MILES v9.1 stars (Sanchez-Blazquez et al. 2006; Falcon-Barroso et al. "
                   "2011), via bhbfinder.simulate.load_miles",
        "n_stars": int(rows.size),
        "stars": star_ids.tolist(),
        "training": config.to_dict(),
        "simulation": _simulation_record(simulation),
        "recipe": "bhbfinder.params.training.miles_library",
    }
    return MilesLibrary(prepared.wavelength.copy(), flux, den, labels, names,
                        prepare_config.to_dict(), provenance, star_ids)


def _simulation_record(simulation):
    if simulation is None:
        return "SimulationConfig(rv=0.0) defaults"
    if isinstance(simulation, dict):
        return {"overrides of SimulationConfig(rv=0.0)": {
            k: list(v) if isinstance(v, tuple) else v for k, v in simulation.items()}}
    return simulation.to_dict()


#: The box of the analytic check (`analytic_library`): Teff (K, log-uniform), log g, [Fe/H]
#: (uniform), and one fixed v sin i (km/s) so that the three labels fully define a spectrum.
ANALYTIC_BOX = {"teff": (6800.0, 10500.0), "logg": (2.5, 4.6), "feh": (-2.5, 0.3), "vsini": 20.0}


def analytic_library(n, seed=0, snr=50.0, n_realisations=1, prepare_config=None, box=None,
                     noise_seed=None, simulation=None):
    """Analytic stars with exact labels, simulated and prepared like `miles_library`.

    A check of the method free of label noise: the MILES labels carry literature errors of a
    few per cent in Teff and 0.2–0.3 dex in log g and [Fe/H], the analytic stars none.

    Parameters
    ----------
    n : int
        Stars, drawn from `ANALYTIC_BOX` (updated by ``box``) with ``seed``.
    seed, noise_seed : int
        Seeds of the star parameters and of the simulated noise (default ``1000 * seed``).
    simulation : dict, optional
        Instrument model overrides, as `miles_library` takes them.

    Returns
    -------
    `MilesLibrary`
        ``flux`` is the mean of ``n_realisations`` prepared realisations at ``snr``.
    """
    box = dict(ANALYTIC_BOX, **(box or {}))
    rng = np.random.default_rng(seed)
    lo, hi = np.log10(box["teff"])
    params = Table({"label": ["BHB"] * n, "teff": 10 ** rng.uniform(lo, hi, n),
                    "logg": rng.uniform(*box["logg"], n), "feh": rng.uniform(*box["feh"], n),
                    "vsini": np.full(n, float(box["vsini"]))})
    lib = analytic_templates(params=params)
    prepare_config = prepare_config if prepare_config is not None else PrepareConfig()
    rows = np.arange(n)
    num = den = 0.0
    noise_seed = 1000 * seed if noise_seed is None else noise_seed
    for k in range(n_realisations):
        prepared, ivar = _prepare_realisation(lib, rows, noise_seed + k, snr, prepare_config,
                                              simulation)
        num = num + ivar * prepared.flux
        den = den + ivar
    flux = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)
    labels = np.column_stack([np.asarray(params[c], float) for c in LABEL_NAMES])
    return MilesLibrary(prepared.wavelength.copy(), flux, den, labels,
                        np.array([f"analytic {k}" for k in rows]), prepare_config.to_dict(),
                        {"library": "bhbfinder.simulate analytic stars", "box": box,
                         "seed": int(seed)},
                        np.asarray(lib.labels["star_id"]).astype(str))


def miles_observations(folder, snr=50.0, seed=1, config=None, prepare_config=None,
                       simulation=None):
    """One independent LAMOST-like, prepared realisation of each library star at ``snr``.

    Rendered like the library (``simulation``, default ``config.simulation``), rows in the
    library's order.

    Returns
    -------
    flux, ivar : ndarray, shape (n, npix)
        ``ivar = 0`` on masked pixels and on rows that failed preparation.
    labels : ndarray, shape (n, 3)
    names : ndarray of str
    """

    config, prepare_config, simulation = _configs(config, prepare_config, simulation)
    lib, rows, labels = _templates(folder, config)
    prepared, ivar = _prepare_realisation(lib, rows, seed, snr, prepare_config, simulation)
    names = np.asarray(lib.labels["name"]).astype(str)[rows]
    return prepared.flux.astype(float), ivar, labels, names


def leave_one_star_out(make_model, library, obs_flux, obs_ivar, test_rows):
    """Leave-one-star-out labels: for each test star, fit without it and infer its labels.

    Parameters
    ----------
    make_model : callable
        ``make_model() -> estimator`` with ``fit(flux, ivar, labels)`` and
        ``predict(flux, ivar) -> (labels, errors, flags)``.
    library : `MilesLibrary`
    obs_flux, obs_ivar : ndarray, shape (n, npix)
        The observations of every library star (same order as ``library``).
    test_rows : array of int

    Returns
    -------
    labels, errors : ndarray, shape (len(test_rows), 3)
    flags : ndarray of int
    """
    out_l, out_e, out_f = [], [], []
    for i in test_rows:
        keep = np.arange(len(library.labels)) != i
        model = make_model().fit(library.flux[keep], library.ivar[keep], library.labels[keep])
        lab, err, fl = model.predict(obs_flux[i:i + 1], obs_ivar[i:i + 1])
        out_l.append(lab[0])
        out_e.append(err[0])
        out_f.append(fl[0])
    return np.array(out_l), np.array(out_e), np.array(out_f)


def nested_leave_one_star_out(library, tuning, obs_flux, obs_ivar, test_rows, hyperparams=None,
                              n_groups=8):
    """Leave-one-star-out with hyper-parameters that never saw the held-out star.

    The test stars are dealt into ``n_groups`` groups (in Teff order, round robin). For each
    group a `SlamEmulator` is fitted and tuned (``hyperparams``; the label objective on the
    ``tuning`` observations) on the library *without the whole group*; each star of the group is
    then inferred by a model fitted on all the other library stars with those tuned
    hyper-parameters (``optimize=False``). So neither the weights nor the hyper-parameters used
    for a star were chosen with its label or spectrum (nested cross-validation).

    Parameters
    ----------
    library : `MilesLibrary`
    tuning : (flux, ivar) or None
        Independent observations of every library star (same rows) for ``objective="labels"``
        (None: tune on the training spectra themselves).
    obs_flux, obs_ivar : ndarray, shape (n, npix)
        The test observations of every library star.
    test_rows : array of int
    hyperparams : dict, optional
        Default `DEFAULT_MODEL_HYPERPARAMS`.
    n_groups : int

    Returns
    -------
    labels, errors : ndarray, shape (len(test_rows), 3)
    flags : ndarray of int
    tuned : list of dict
        The hyper-parameters of each group (``length_scale``, ``alpha``, ``rows``).
    """
    hyperparams = dict(DEFAULT_MODEL_HYPERPARAMS if hyperparams is None else hyperparams)
    test_rows = np.asarray(test_rows)
    order = test_rows[np.argsort(library.labels[test_rows, 0], kind="stable")]
    position = {r: j for j, r in enumerate(test_rows.tolist())}
    n_all = len(library.labels)
    out_l = np.full((test_rows.size, 3), np.nan)
    out_e = np.full((test_rows.size, 3), np.nan)
    out_f = np.zeros(test_rows.size, np.int64)
    tuned = []
    for g in range(min(n_groups, test_rows.size)):
        group = order[g::n_groups]
        keep = ~np.isin(np.arange(n_all), group)
        tune = None
        if hyperparams.get("objective") == "labels" and tuning is not None:
            tune = (np.asarray(tuning[0])[keep], np.asarray(tuning[1])[keep])
        model = SlamEmulator(**hyperparams).fit(library.flux[keep], library.ivar[keep],
                                                library.labels[keep], tuning_data=tune)
        fixed = dict(hyperparams, length_scale=model.length_scale_.tolist(),
                     alpha=model.alpha_, optimize=False)
        tuned.append({"length_scale": model.length_scale_.tolist(), "alpha": model.alpha_,
                      "rows": group.tolist()})
        lab, err, fl = leave_one_star_out(lambda f=fixed: SlamEmulator(**f), library,
                                          obs_flux, obs_ivar, group)
        at = [position[r] for r in group]
        out_l[at], out_e[at], out_f[at] = lab, err, fl
    return out_l, out_e, out_f, tuned


def scatter_table(found, truth):
    """Bias (median), robust scatter (1.4826 MAD) and standard deviation of ``found - truth``.

    Returns
    -------
    dict
        ``{label: {"bias", "robust_sigma", "std", "n"}}`` over the rows where ``found`` is finite.
    """
    out = {}
    for j, name in enumerate(LABEL_NAMES):
        d = found[:, j] - truth[:, j]
        d = d[np.isfinite(d)]
        med = float(np.median(d)) if d.size else float("nan")
        out[name] = {
            "bias": med,
            "robust_sigma": float(1.4826 * np.median(np.abs(d - med))) if d.size else float("nan"),
            "std": float(np.std(d)) if d.size else float("nan"),
            "n": int(d.size),
        }
    return out


def fit_library(library, folder, config=None, hyperparams=None):
    """Fit a `SlamEmulator` to a `MilesLibrary`, tuning on an independent observation set.

    With ``objective="labels"`` the hyper-parameters are tuned on one more LAMOST-like
    observation of every library star (``config.tuning_seed``, ``config.snr``).
    """
    config = config or MilesTrainingConfig()
    hyperparams = dict(DEFAULT_MODEL_HYPERPARAMS if hyperparams is None else hyperparams)
    tuning = None
    if hyperparams.get("objective") == "labels":
        flux, ivar, _, _ = miles_observations(folder, config.snr, config.tuning_seed, config)
        tuning = (flux, ivar)
    return SlamEmulator(**hyperparams).fit(library.flux, library.ivar, library.labels,
                                           wavelength=library.wavelength,
                                           prepare_config=library.prepare_config,
                                           provenance=library.provenance, tuning_data=tuning)


def train_default_model(folder, path=None, config=None, hyperparams=None, loo_snr=50.0,
                        loo_teff_range=(7000.0, 10000.0), loo_seed=1, n_groups=8):
    """Build the shipped hot-star emulator and record its leave-one-star-out scatter.

    Parameters
    ----------
    folder : path-like
        The MILES folder.
    path : path-like, optional
        Where to save the model (ASDF).
    config : `MilesTrainingConfig`, optional
    hyperparams : dict, optional
        `SlamEmulator` parameters (default `DEFAULT_MODEL_HYPERPARAMS`).
    loo_snr, loo_teff_range, loo_seed, n_groups
        The validation: stars in ``loo_teff_range``, observed at ``loo_snr`` (independent noise),
        each inferred by a model fitted without it, with hyper-parameters tuned without it
        (`nested_leave_one_star_out`, ``n_groups`` groups).

    Returns
    -------
    `SlamEmulator`
    """
    config = config or MilesTrainingConfig()
    hyperparams = dict(DEFAULT_MODEL_HYPERPARAMS if hyperparams is None else hyperparams)
    library = miles_library(folder, config)
    model = fit_library(library, folder, config, hyperparams)
    model.meta["validation"]["tuning"] = (
        f"nested: the test stars are dealt into {n_groups} groups; for each group the "
        f"hyper-parameters ({hyperparams}) are tuned (observation seed {config.tuning_seed}) "
        "on the library without the group, and each star of the group is inferred by a model "
        "fitted on all the other stars with them (nested_leave_one_star_out)")
    flux, ivar, labels, _ = miles_observations(folder, loo_snr, loo_seed, config)
    lo, hi = loo_teff_range
    test = np.flatnonzero((labels[:, 0] >= lo) & (labels[:, 0] <= hi))
    tuning = None
    if hyperparams.get("objective") == "labels":
        tune_flux, tune_ivar, _, _ = miles_observations(folder, config.snr, config.tuning_seed,
                                                        config)
        tuning = (tune_flux, tune_ivar)
    found, _, flags, _ = nested_leave_one_star_out(library, tuning, flux, ivar, test,
                                                   hyperparams, n_groups=n_groups)
    model.meta["validation"].update({
        "method": "leave-one-star-out on MILES stars, LAMOST-like simulated observations "
                  "prepared by the prepare stage",
        "snr": float(loo_snr),
        "teff_range": [float(lo), float(hi)],
        "n_stars": int(test.size),
        "scatter": scatter_table(found, labels[test]),
        "n_flagged": int((flags != 0).sum()),
    })
    if path is not None:
        model.save(path)
    return model
