"""Preparation: rest frame, resampling onto the model grid, continuum normalisation.

Every model sees spectra only through this one transformation, and it is fully described by a
`PrepareConfig`, which is stored in each model file and compared (`check_prepared`) before a
model accepts a batch. `prepare_arrays` takes the spectra of a chunk on their native grids (a
`~bhbfinder.batch.RawBatch`, or any object with the same arrays) and returns `PreparedArrays`;
the ``prepare`` stage (`bhbfinder.stages.prepare`) wraps it for the pipeline. For each spectrum:

1. **Errors checked against the noise** (optional): where the pixel-to-pixel scatter of the
   native spectrum is clearly below what its inverse variance says (the fainter real LAMOST
   files overstate their errors up to ~1.4 times), the inverse variance is scaled to the scatter
   (`bhbfinder.spectra.noise`), so that every weight, error and probability downstream
   describes the noise actually present. Then **cleaning** (optional): upward spikes on the
   native grid are masked (`bhbfinder.spectra.clean`).
2. **Rest frame**: the catalogue redshift when it is trustworthy (present, not the −9999
   placeholder, ``|z| <= z_max_abs``, ``z_err`` not flagged and ``<= z_err_max``), otherwise a
   radial velocity measured by χ² cross-correlation against the built-in templates
   (`bhbfinder.spectra.rv`). The choice is recorded in ``rv_source``: ``"catalog"``,
   ``"xcorr"`` or ``"none"`` (no usable velocity: the spectrum stays in the observed frame).
3. **Resampling** onto the model grid, flux-conserving, with ivar and masks propagated; pixels
   outside the spectrum's coverage are masked (`bhbfinder.spectra.resample`).
4. **Continuum normalisation** by a weighted, clipped Legendre fit
   (`bhbfinder.spectra.continuum`).
5. Masked pixels carry ``ivar = 0`` and ``mask = True``; their flux is linearly interpolated
   between the nearest good pixels (1, the continuum, beyond the ends) so arrays hold no NaN.

A row whose ``status`` is not ``"ok"`` on input, or that fails here (too little of the grid
covered, continuum fit failed), gets a short reason in ``status`` and fully masked arrays; one
bad row never raises.
"""

import importlib
from dataclasses import dataclass, field, fields, replace
from typing import Any

import astropy.units as u
import numpy as np
from astropy.table import Table

from ..errors import ConfigurationError, PreprocessingMismatchError
from ..io.base import STATUS_OK, UNKNOWN_VALUE
from .clean import CleanConfig, flag_spikes
from .continuum import ContinuumConfig, normalize
from .grid import DEFAULT_GRID, ModelGrid, get_grid
from .lines import C_KMS
from .noise import NoiseConfig, ivar_scale, pixel_noise_ratio
from .resample import resample_batch
from .rv import RVConfig, xcorr_rv

__all__ = ["PrepareConfig", "PreparedArrays", "prepare_arrays", "check_compatible",
           "check_prepared", "GRID_TOLERANCE", "catalog_redshift", "REST_FRAME_RULES",
           "RV_SOURCES"]

#: How the rest frame is chosen.
REST_FRAME_RULES = {
    "catalog-or-xcorr": "catalogue z when trustworthy, else cross-correlation RV",
    "xcorr": "always the cross-correlation RV",
    "catalog": "catalogue z when trustworthy, else the observed frame",
    "observed": "no shift (observed frame)",
}

#: Values of the ``rv_source`` column.
RV_SOURCES = ("catalog", "xcorr", "none")

_FILLS = ("interpolate", "one")
_SECOND_PASS_PIXELS = 5
_RV_FAILURES = ("observed", "fail")


@dataclass(frozen=True)
class PrepareConfig:
    """Everything that defines the preprocessing; stored in model files, compared on use.

    Parameters
    ----------
    grid : str, dict or `~bhbfinder.spectra.grid.ModelGrid`
        The model grid (default ``"blue-3800-5000"``).
    rest_frame : str
        One of `REST_FRAME_RULES`.
    z_max_abs : float
        Catalogue redshifts with larger ``|z|`` are not trusted for stars (0.01 = 3000 km/s).
    z_err_max : float
        Catalogue redshifts with larger ``z_err`` are not trusted; a negative ``z_err`` (LAMOST
        writes −9999) is a flag. A missing ``z_err`` is accepted.
    z_missing : float
        The survey's placeholder for "no redshift".
    rv_failure : str
        When no velocity can be had: ``"observed"`` keeps the row in the observed frame
        (``rv_source = "none"``), ``"fail"`` sets its status to ``"no radial velocity"``.
    rv, continuum, clean, noise : `RVConfig`, `ContinuumConfig`, `CleanConfig`, `NoiseConfig`
        Settings of each step (dicts are accepted). A stored configuration without ``noise``
        (model files written before it) takes the default: the rescaling leaves spectra with
        exact errors, such as the simulator's, unchanged.
    min_coverage : float
        Output pixels with less good-input overlap than this fraction are masked.
    min_good_fraction : float
        Rows with a smaller fraction of good grid pixels fail.
    fill : str
        Flux put in masked pixels: ``"interpolate"`` (linear between good neighbours, 1 beyond
        the ends) or ``"one"``.
    version : int
        Version of the algorithm; bumped whenever the code changes what it computes.

    Examples
    --------
    >>> config = PrepareConfig()
    >>> config.grid.name
    'blue-3800-5000'
    >>> PrepareConfig.from_dict(config.to_dict()) == config
    True
    """

    grid: ModelGrid = DEFAULT_GRID
    rest_frame: str = "catalog-or-xcorr"
    z_max_abs: float = 0.01
    z_err_max: float = 0.001
    z_missing: float = UNKNOWN_VALUE
    rv_failure: str = "observed"
    rv: RVConfig = RVConfig()
    continuum: ContinuumConfig = ContinuumConfig()
    clean: CleanConfig = CleanConfig()
    noise: NoiseConfig = NoiseConfig()
    min_coverage: float = 0.5
    min_good_fraction: float = 0.5
    fill: str = "interpolate"
    version: int = 1

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "grid", get_grid(self.grid))
        for key, cls in (("rv", RVConfig), ("continuum", ContinuumConfig), ("clean", CleanConfig),
                         ("noise", NoiseConfig)):
            value = getattr(self, key)
            if isinstance(value, dict):
                set_(self, key, cls.from_dict(value))
            elif value is None:
                set_(self, key, cls())
            elif not isinstance(value, cls):
                raise ConfigurationError(f"PrepareConfig.{key} must be a {cls.__name__} or dict")
        for key in ("z_max_abs", "z_err_max", "z_missing", "min_coverage", "min_good_fraction"):
            set_(self, key, float(getattr(self, key)))
        set_(self, "version", int(self.version))
        checks = (("rest_frame", REST_FRAME_RULES), ("fill", _FILLS),
                  ("rv_failure", _RV_FAILURES))
        for key, allowed in checks:
            if getattr(self, key) not in allowed:
                raise ConfigurationError(
                    f"PrepareConfig.{key}={getattr(self, key)!r}; use one of {', '.join(allowed)}")
        for key in ("min_coverage", "min_good_fraction"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigurationError(f"PrepareConfig.{key} must be in [0, 1]")

    def to_dict(self):
        """Plain nested dict (str, float, int, bool, list) for ASDF / JSON model files."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to_dict() if hasattr(value, "to_dict") else value
        return out

    @classmethod
    def from_dict(cls, data):
        """Inverse of `to_dict`; unknown keys are an error (a newer file, or a typo)."""
        data = dict(data)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigurationError(
                f"unknown preprocessing keys {sorted(unknown)}; this file may come from a newer "
                "bhbfinder: upgrade it")
        return cls(**data)


def _flatten(data, prefix=""):
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _as_config(config):
    if config is None:
        return PrepareConfig()
    if isinstance(config, PrepareConfig):
        return config
    if isinstance(config, dict):
        return PrepareConfig.from_dict(config)
    raise ConfigurationError(
        f"preprocessing config must be a PrepareConfig or dict, not {type(config).__name__}")


def check_compatible(expected, actual):
    """Raise unless two preprocessing configurations are the same.

    Parameters
    ----------
    expected : `PrepareConfig` or dict
        What the model was trained with (from its file).
    actual : `PrepareConfig` or dict
        What the batch was prepared with (``PreparedBatch.config``).

    Raises
    ------
    PreprocessingMismatchError
        Naming every setting that differs.
    """
    if actual is None:
        raise PreprocessingMismatchError(
            "the batch carries no preprocessing configuration; prepare it with "
            "bhbfinder.stages.prepare.prepare(raw, config) using the model's config")
    a = _flatten(_as_config(expected).to_dict())
    b = _flatten(_as_config(actual).to_dict())
    diffs = [f"{key}: model {a.get(key)!r} vs batch {b.get(key)!r}"
             for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]
    if diffs:
        raise PreprocessingMismatchError(
            "spectra were prepared differently from what the model expects ("
            + "; ".join(diffs) + "); prepare them again with the model's PrepareConfig")


#: How close (Å) a batch's grid must be to a model's, pixel by pixel: ``atol + rtol·λ``. Grids
#: built from the same `ModelGrid` agree to ~1e-12 Å; a different grid differs by ≥ 0.01 Å.
GRID_TOLERANCE = {"rtol": 1e-9, "atol": 1e-6}


def check_prepared(prepared, config=None, wavelength=None, what="the model"):
    """Raise unless a prepared batch is what a model (or a stage) expects: the one check.

    Every stage that works on prepared spectra has it made with what the stage carries (the
    pipeline calls it before the stage runs): the preprocessing its model was trained with and
    that model's wavelength grid.

    Parameters
    ----------
    prepared : object with ``config`` and ``wavelength``
        The batch (``config`` is the `PrepareConfig` it was prepared with, ``wavelength`` its
        shared 1-D grid).
    config : `PrepareConfig` or dict, optional
        The preprocessing expected (compared setting by setting, see `check_compatible`);
        None: any.
    wavelength : array, optional
        The grid expected, compared within `GRID_TOLERANCE`; None: any.
    what : str
        Who expects it, for the message.

    Raises
    ------
    PreprocessingMismatchError
        Naming what differs and how to prepare the spectra instead.
    """
    grid = getattr(prepared, "wavelength", None)
    if wavelength is not None and grid is not None:
        expected = np.asarray(wavelength, float)
        w = np.asarray(grid, float)
        if w.shape != expected.shape or not np.allclose(w, expected, **GRID_TOLERANCE):
            raise PreprocessingMismatchError(
                f"the spectra are on a {w.size}-pixel grid {w[:1]}–{w[-1:]} Å but {what} was "
                f"trained on a {expected.size}-pixel grid {expected[0]:.2f}–{expected[-1]:.2f} "
                "Å; prepare them with its PrepareConfig (its prepare_config)")
    if config is None:
        return
    try:
        check_compatible(config, getattr(prepared, "config", None))
    except ConfigurationError as exc:  # e.g. keys this version does not know
        raise PreprocessingMismatchError(
            f"the batch's preprocessing config cannot be compared with {what}'s: {exc}") from exc


def _column(meta, key):
    if key not in meta.colnames:
        return np.full(len(meta), np.nan)
    col = meta[key]
    return np.asarray(np.ma.filled(np.ma.asarray(col, dtype=float), np.nan), dtype=float)


def catalog_redshift(meta, config=None):
    """The catalogue redshift of each row and whether it can be trusted for a star.

    Returns
    -------
    z, z_err : ndarray
        NaN where missing.
    trusted : ndarray of bool
    """
    config = _as_config(config)
    z = _column(meta, "z")
    z_err = _column(meta, "z_err")
    with np.errstate(invalid="ignore"):
        present = np.isfinite(z) & (np.abs(z - config.z_missing) > 1e-6) & (z > -1)
        err_ok = ~np.isfinite(z_err) | ((z_err >= 0) & (z_err <= config.z_err_max))
        trusted = present & err_ok & (np.abs(z) <= config.z_max_abs)
    return z, z_err, trusted


def _fill_masked(flux, mask, value=1.0):
    """Linear interpolation over masked pixels between good neighbours, ``value`` beyond."""
    n, npix = flux.shape
    idx = np.arange(npix)
    good = ~mask
    prev = np.maximum.accumulate(np.where(good, idx, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(good, idx, npix)[:, ::-1], axis=1)[:, ::-1]
    both = (prev >= 0) & (nxt < npix)
    fp = np.take_along_axis(flux, np.clip(prev, 0, npix - 1), axis=1)
    fn = np.take_along_axis(flux, np.clip(nxt, 0, npix - 1), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(both, (idx - prev) / np.where(both, nxt - prev, 1), 0.0)
    return np.where(good, flux, np.where(both, fp + t * (fn - fp), value))


def _measure_rv(arrays, rows, config):
    """Cross-correlation RVs of ``rows`` in two passes.

    The first pass works in the observed frame; the second re-resamples each spectrum into the
    rest frame of the first estimate, so the fixed continuum masks sit on the lines, and
    measures the small remaining shift (search range ±5 pixels).
    """
    wave, flux, ivar, mask, npix = arrays
    grid = config.rv.grid
    scale = np.ones(rows.size)
    result = None
    for rv_config in (config.rv, replace(config.rv, max_velocity=_SECOND_PASS_PIXELS
                                         * grid.velocity_step)):
        f, iv, m, _ = resample_batch(wave[rows], flux[rows], ivar[rows], mask[rows], grid.edges,
                                     npix=npix[rows], scale=scale,
                                     min_coverage=config.min_coverage)
        fn, ivn, mn, _, ok = normalize(grid.wavelength, f, iv, m, config.continuum)
        step = xcorr_rv(fn, ivn, mn, rv_config)
        step.ok &= ok
        if result is None:
            result = step
            scale = np.where(step.ok, 1.0 + step.z, 1.0)
            continue
        both = result.ok & step.ok
        zp1 = (1.0 + result.z[both]) * (1.0 + step.z[both])
        result.z[both] = zp1 - 1.0
        result.rv[both] = C_KMS * (zp1 - 1.0)
        result.rv_err[both] = step.rv_err[both] * (1.0 + result.z[both])
        result.template[both] = step.template[both]
        result.chi2_red[both] = step.chi2_red[both]
    return result


def _needed_columns(raw, config):
    """The native arrays cropped to the columns any grid can reach (a third of LAMOST's)."""
    grids = [config.grid]
    if config.rest_frame in ("catalog-or-xcorr", "xcorr"):
        grids.append(config.rv.grid)
    stretch = 1.0 + max(config.z_max_abs, config.rv.max_velocity / C_KMS)
    lo = min(g.edges[0] for g in grids) / stretch
    hi = max(g.edges[-1] for g in grids) * stretch
    wave = np.asarray(raw.wavelength, dtype=float)
    npix = np.asarray(raw.npix, dtype=np.int64)
    m = wave.shape[1]
    with np.errstate(invalid="ignore"):
        cols = np.flatnonzero(((wave >= lo) & (wave <= hi)).any(axis=0))
    c0, c1 = (max(cols[0] - 2, 0), min(cols[-1] + 3, m)) if cols.size else (0, m)
    crop = slice(c0, c1)
    return (wave[:, crop], np.asarray(raw.flux)[:, crop], np.asarray(raw.ivar)[:, crop],
            np.asarray(raw.mask, bool)[:, crop], np.clip(npix - c0, 0, c1 - c0))


@dataclass
class PreparedArrays:
    """Spectra in the rest frame on one shared model grid, normalised (what `prepare_arrays`
    returns; the pipeline's `~bhbfinder.batch.PreparedBatch` is one of these).

    Attributes
    ----------
    wavelength : ndarray, shape (npix,)
        Rest-frame vacuum wavelength of the model grid, Å.
    flux, ivar : ndarray, shape (n, npix), float32
        Continuum-normalised flux and its inverse variance (0 where masked).
    mask : ndarray of bool, shape (n, npix)
        True where a pixel is bad or outside the spectrum's coverage.
    meta : `~astropy.table.Table`
        The input's meta plus what preparation measured (e.g. ``rv``, ``rv_err``,
        ``rv_source``); ``status`` may have turned from ``"ok"`` into a reason.
    config : `PrepareConfig`
        The preprocessing configuration that produced the arrays (compared against a model's).
    extra : dict
        Optional arrays a preparation exposes (e.g. ``continuum``).
    """

    wavelength: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    meta: Table
    config: Any = None
    extra: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.meta)

    @property
    def ok(self):
        """Boolean array: rows that prepared successfully."""
        return np.asarray(self.meta["status"]) == STATUS_OK


def prepare_arrays(raw, config=None):
    """Prepare spectra for the models (see the module docstring for the steps).

    Parameters
    ----------
    raw : `~bhbfinder.batch.RawBatch` or object with the same attributes
        ``wavelength``, ``flux``, ``ivar``, ``mask`` (``(n, m)`` arrays on the native grids),
        ``npix`` (valid pixels per row) and ``meta`` (a table with ``status``, ``z``, ...).
    config : `PrepareConfig` or dict, optional

    Returns
    -------
    `PreparedArrays`
        On ``config.grid``; ``meta`` gains ``rv``, ``rv_err`` (km/s), ``rv_source``,
        ``rv_template``, ``rv_chi2``, ``noise_ratio`` and ``ivar_scale`` (the errors checked
        against the pixel scatter, and the factor applied to the inverse variance),
        ``snr_prepared`` (median per-pixel S/N of the good grid pixels) and ``good_fraction``;
        ``extra["continuum"]`` holds the fitted continua.
    """
    config = _as_config(config)
    grid = config.grid
    n = len(raw)
    npixg = grid.npix
    status = np.asarray(raw.meta["status"]).astype(object)
    status[(status == STATUS_OK) & (np.asarray(raw.npix) < 2)] = "no pixels"
    ok = status == STATUS_OK

    wave, nflux, nivar, mask, npix = _needed_columns(raw, config)
    mask = mask | ~(nivar > 0)
    noise_ratio = np.full(n, np.nan)
    ivar_factor = np.ones(n)
    if config.noise.enabled and ok.any():
        rows = np.flatnonzero(ok)
        noise_ratio[rows] = pixel_noise_ratio(nflux[rows], nivar[rows], mask[rows], npix[rows],
                                              config.noise.min_pixels, config.noise.lag)
        ivar_factor = ivar_scale(noise_ratio, config.noise)
        if (ivar_factor != 1.0).any():
            nivar = nivar * ivar_factor[:, None]
    if config.clean.enabled and ok.any():
        rows = np.flatnonzero(ok)
        mask[rows] |= flag_spikes(nflux[rows], nivar[rows], mask[rows], config.clean)
    arrays = (wave, nflux, nivar, mask, npix)

    rv = np.full(n, np.nan)
    rv_err = np.full(n, np.nan)
    source = np.full(n, "none", dtype=object)
    template = np.full(n, "", dtype=object)
    rv_chi2 = np.full(n, np.nan)
    z_cat, zerr_cat, trusted = catalog_redshift(raw.meta, config)
    if config.rest_frame in ("catalog-or-xcorr", "catalog"):
        use = ok & trusted
        rv[use] = C_KMS * z_cat[use]
        rv_err[use] = C_KMS * zerr_cat[use]
        source[use] = "catalog"
    if config.rest_frame in ("catalog-or-xcorr", "xcorr"):
        rows = np.flatnonzero(ok & (source == "none"))
        if rows.size:
            result = _measure_rv(arrays, rows, config)
            good = rows[result.ok]
            rv[good] = result.rv[result.ok]
            rv_err[good] = result.rv_err[result.ok]
            source[good] = "xcorr"
            template[good] = result.template[result.ok]
            rv_chi2[good] = result.chi2_red[result.ok]
    if config.rv_failure == "fail" and config.rest_frame != "observed":
        status[ok & (source == "none")] = "no radial velocity"
        ok = status == STATUS_OK

    flux = np.ones((n, npixg))
    ivar = np.zeros((n, npixg))
    outmask = np.ones((n, npixg), bool)
    continuum = np.zeros((n, npixg))
    good_fraction = np.zeros(n)
    rows = np.flatnonzero(ok)
    if rows.size:
        scale = np.where(np.isfinite(rv[rows]), 1.0 + rv[rows] / C_KMS, 1.0)
        f, iv, m, _ = resample_batch(wave[rows], nflux[rows], nivar[rows],
                                     mask[rows], grid.edges, npix=npix[rows], scale=scale,
                                     min_coverage=config.min_coverage)
        covered = (~m).mean(axis=1)
        fn, ivn, mn, cont, cont_ok = normalize(grid.wavelength, f, iv, m, config.continuum)
        good_fraction[rows] = (~mn).mean(axis=1)
        reason = np.select(
            [covered == 0, covered < config.min_good_fraction, ~cont_ok,
             good_fraction[rows] < config.min_good_fraction],
            ["no coverage of the grid", "too few good pixels in grid", "continuum fit failed",
             "too few good pixels in grid"],
            STATUS_OK)
        keep = reason == STATUS_OK
        status[rows[~keep]] = reason[~keep]
        rk = rows[keep]
        fill = _fill_masked(fn[keep], mn[keep]) if config.fill == "interpolate" \
            else np.where(mn[keep], 1.0, fn[keep])
        flux[rk] = fill
        ivar[rk] = ivn[keep]
        outmask[rk] = mn[keep]
        continuum[rk] = cont[keep]
    ok = status == STATUS_OK

    snr_prepared = _masked_median(flux * np.sqrt(ivar), outmask)
    snr_prepared[~ok] = np.nan

    meta = raw.meta.copy(copy_data=True)
    meta["status"] = np.array([str(s) for s in status], dtype=str) if n else meta["status"]
    _add(meta, "rv", rv, u.km / u.s, "radial velocity used for the rest frame (c z)")
    _add(meta, "rv_err", rv_err, u.km / u.s, "uncertainty of rv")
    _add(meta, "rv_source", _strings(source), None,
         "where rv comes from: catalog, xcorr (template cross-correlation) or none")
    _add(meta, "rv_template", _strings(template), None,
         "best cross-correlation template (xcorr rows)")
    _add(meta, "rv_chi2", rv_chi2, None,
         "reduced chi^2 of the best template at the measured shift (xcorr rows); large values "
         "mean no template resembles the spectrum")
    _add(meta, "noise_ratio", noise_ratio, None,
         "robust pixel-to-pixel scatter of the native spectrum over what its errors say "
         "(1: errors right; below 1: errors overstated)")
    _add(meta, "ivar_scale", ivar_factor, None,
         "factor the inverse variance was multiplied by to match the scatter (1: unchanged)")
    _add(meta, "snr_prepared", snr_prepared, None,
         "median per-pixel S/N of the good pixels on the model grid")
    _add(meta, "good_fraction", good_fraction, None,
         "fraction of model-grid pixels that are good")
    return PreparedArrays(
        wavelength=grid.wavelength.copy(),
        flux=flux.astype(np.float32),
        ivar=ivar.astype(np.float32),
        mask=outmask,
        meta=meta,
        config=config,
        extra={"continuum": continuum.astype(np.float32)},
    )


def _masked_median(values, mask):
    """Row medians over unmasked entries (NaN for fully masked rows), without a row loop."""
    n, npix = values.shape
    ordered = np.sort(np.where(mask, np.inf, values), axis=1)
    k = (~mask).sum(axis=1)
    lo = np.take_along_axis(ordered, np.clip((k - 1) // 2, 0, npix - 1)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(ordered, np.clip(k // 2, 0, npix - 1)[:, None], axis=1)[:, 0]
    return np.where(k > 0, 0.5 * (lo + hi), np.nan)


def _strings(values):
    out = np.array([str(v) for v in values], dtype=str)
    return out if out.dtype.itemsize else out.astype("U1")


def _add(meta, name, values, unit, description):
    meta[name] = values
    if unit is not None:
        meta[name].unit = unit
    meta[name].description = description


# `prepare` and `PrepareStage` (the stage, which builds the pipeline's PreparedBatch) live in
# bhbfinder.stages.prepare; they stay importable from here, loaded on first use.
_STAGE_NAMES = ("prepare", "PrepareStage")


def __getattr__(name):
    if name in _STAGE_NAMES:
        return getattr(importlib.import_module("..stages.prepare", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
