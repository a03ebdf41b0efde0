"""The ``balmer`` stage ``"sersic"``: Balmer-profile fits and the BHB confirmation flag.

For every spectrum of a `~bhbfinder.batch.PreparedBatch` it fits Hδ, Hγ and Hβ (where the grid
covers them) with the Sérsic-type profile, measures D0.2 / fm and the Ca II K index, and applies a
named criteria set (`bhbfinder.balmer.criteria`).

Output columns, per line prefix ``hdelta``, ``hgamma``, ``hbeta`` (see
`bhbfinder.balmer.measure.QUANTITIES`): ``<p>_a``, ``<p>_b``, ``<p>_c``, ``<p>_lam0`` and their
``_err``, ``<p>_d02``, ``<p>_d02_err``, ``<p>_fm``, ``<p>_fm_err`` (fitted profile),
``<p>_d02_data``, ``<p>_fm_data`` (data), ``<p>_chi2``, ``<p>_npix``, ``<p>_flags``; then
``cak_ew``, ``cak_ew_err``, ``cak_flags`` and the stellar Ca II K columns; ``mgii_ew``,
``mgii_ew_err`` (Mg II 4481, a metallicity trace of late-B and A stars); ``metal_index``,
``metal_index_err``, ``metal_npix``, ``metal_flags`` (the metallic-line index of
`bhbfinder.balmer.metals`); then
``balmer_confirmed`` (bool) and
``balmer_reason`` (``""`` when confirmed). Values of lines without numbers (flags
``not_covered``, ``masked``, ``bad_row``) and undefined measures are masked.
"""

import astropy.units as u
import numpy as np
from astropy.table import Column, MaskedColumn, Table

from ..balmer import flags as F
from ..balmer.cak import CAK_STELLAR_QUANTITIES, ISM_PRIOR, ISM_VELOCITY, measure_cak_stellar
from ..balmer.criteria import get_criteria
from ..balmer.measure import (
    MAX_MASKED_FRACTION,
    QUANTITIES,
    measure_band_ew,
    measure_cak,
    measure_line,
)
from ..balmer.metals import METAL_QUANTITIES, measure_metal_index
from ..balmer.profile import d02_from_params
from ..balmer.resolution import REFERENCE_FWHM, correct_to_reference, resolution_fwhm
from ..balmer.windows import CAK_WINDOW, COLUMN_PREFIX, DEFAULT_WINDOWS, MGII_WINDOW
from ..errors import ConfigurationError
from ..hookspecs import STAGE_KINDS, hookimpl
from . import StageInfo

__all__ = ["BalmerStage", "DEFAULT_LINES", "DEFAULT_CRITERIA", "CORRECTED_QUANTITIES",
           "bhbfinder_register_stages"]

#: The lines measured by default (H10 lies below the default model grid; ask for it with
#: ``lines=`` on a grid that covers it).
DEFAULT_LINES = ("Hdelta", "Hgamma", "Hbeta", "Hepsilon", "H8", "H9")

#: The criteria set used unless told otherwise.
DEFAULT_CRITERIA = "lamost"

#: Per-line quantities corrected to the reference resolution: name -> (unit, description).
CORRECTED_QUANTITIES = {
    "a_corr": (None, f"a corrected to the reference FWHM {REFERENCE_FWHM:g} Angstrom "
                     "(bhbfinder.balmer.resolution)"),
    "b_corr": ("Angstrom", f"b corrected to the reference FWHM {REFERENCE_FWHM:g} Angstrom"),
    "c_corr": (None, f"c corrected to the reference FWHM {REFERENCE_FWHM:g} Angstrom"),
    "d02_corr": ("Angstrom", "D0.2 of the corrected profile"),
    "fm_corr": (None, "fm of the corrected profile (1 - a_corr)"),
}

_UNITS = {"Angstrom": u.AA, None: None}
_PREFIX_TO_LINE = {v: k for k, v in COLUMN_PREFIX.items()}


class BalmerStage:
    """Fit Balmer-line profiles and confirm BHB stars with a criteria set.

    Parameters
    ----------
    criteria : str, path-like or `~bhbfinder.balmer.criteria.CriteriaSet`
        A registered name (``"lamost"``, the default; ``"xue2008"``, ``"xue2008+cak"``, ...),
        a saved set, or a set.
    lines : sequence of str
        Lines to measure (names of `~bhbfinder.spectra.lines.LINES_VACUUM`); lines the
        criteria need are added.
    windows : dict, optional
        ``{line: LineWindow}`` overriding `~bhbfinder.balmer.windows.DEFAULT_WINDOWS`.
    max_masked_fraction : float
        See `~bhbfinder.balmer.measure.measure_line`.
    fit_options : dict, optional
        Passed to `~bhbfinder.balmer.fit.fit_batched`.
    resolution : "meta" or float
        The blue-arm FWHM (Å) of the spectra: ``"meta"`` takes it per spectrum from the batch
        meta (``resolution_fwhm`` in Å or ``resolving_power``) and assumes
        `~bhbfinder.balmer.resolution.DEFAULT_FWHM` where there is none (LAMOST files record
        none); a number applies to every spectrum. It sets the ``_corr`` columns and the
        interstellar K line's width (`bhbfinder.balmer.resolution`).
    ism_velocity : float
        Heliocentric velocity (km/s) of the interstellar gas (`bhbfinder.balmer.cak`).
    ism_prior : (float, float)
        Prior mean and σ (Å) of the interstellar K equivalent width.
    classes : tuple of str or None
        The stage-1 classes whose spectra the pipeline hands to this stage (others get masked
        columns); None: every spectrum. Default BHB, A, B.

    Examples
    --------
    >>> stage = BalmerStage(criteria="xue2008", lines=("Hdelta", "Hgamma", "Hbeta"))
    >>> stage.lines
    ('Hdelta', 'Hgamma', 'Hbeta')
    """

    #: Prepared as the other stages' spectra (the classifier's preprocessing), on any grid that
    #: holds the lines (see `bhbfinder.hookspecs.BatchStage`).
    prepare_config = None
    wavelength = None

    def __init__(self, criteria=DEFAULT_CRITERIA, lines=DEFAULT_LINES, windows=None,
                 max_masked_fraction=MAX_MASKED_FRACTION, fit_options=None, resolution="meta",
                 ism_velocity=ISM_VELOCITY, ism_prior=ISM_PRIOR,
                 classes=STAGE_KINDS["balmer"].classes):
        self.classes = None if classes is None else tuple(classes)
        self.criteria = get_criteria(criteria)
        self.windows = {**DEFAULT_WINDOWS, **(windows or {})}
        needed = [_PREFIX_TO_LINE[p] for p in self.criteria.lines
                  if p in _PREFIX_TO_LINE and p != "cak"]
        lines = tuple(dict.fromkeys(tuple(lines) + tuple(needed)))
        unknown = [name for name in lines if name not in self.windows]
        if unknown:
            raise ConfigurationError(
                f"BalmerStage: no window for line(s) {', '.join(unknown)}; known: "
                f"{', '.join(self.windows)} (pass windows={{name: LineWindow(...)}})")
        self.lines = lines
        self.max_masked_fraction = float(max_masked_fraction)
        self.fit_options = dict(fit_options or {})
        resolution_fwhm(None, resolution, n=0)      # validate early
        self.resolution = resolution
        self.ism_velocity = float(ism_velocity)
        self.ism_prior = tuple(float(v) for v in ism_prior)

    def measure(self, prepared):
        """The per-line measurements as a dict of arrays (no criteria applied)."""
        wave, flux, ivar, mask = _arrays(prepared)
        rows = np.asarray(prepared.ok, bool)
        n = len(flux)
        fwhm, source = resolution_fwhm(prepared.meta, self.resolution, n=n)
        out = {}
        for name in self.lines:
            res = measure_line(wave, flux, ivar, mask, self.windows[name], rows=rows,
                               max_masked_fraction=self.max_masked_fraction,
                               fit_options=self.fit_options)
            a, b, c = correct_to_reference(res["a"], res["b"], res["c"], fwhm)
            res["a_corr"], res["b_corr"], res["c_corr"] = a, b, c
            res["d02_corr"] = d02_from_params(a, b, c)
            res["fm_corr"] = 1.0 - a
            prefix = COLUMN_PREFIX.get(name, name.lower())
            out.update({f"{prefix}_{k}": v for k, v in res.items()})
        cak = measure_cak(wave, flux, ivar, mask, CAK_WINDOW, rows=rows,
                          max_masked_fraction=self.max_masked_fraction)
        star = measure_cak_stellar(wave, flux, ivar, mask, _radial_velocity(prepared.meta, n),
                                   fwhm, rows=rows, ism_velocity=self.ism_velocity,
                                   ism_prior=self.ism_prior,
                                   max_masked_fraction=self.max_masked_fraction, band=cak)
        cak["flags"] = star.pop("flags")
        out.update({f"cak_{k}": v for k, v in cak.items()})
        out.update({f"cak_{k}": v for k, v in star.items()})
        mg = measure_band_ew(wave, flux, ivar, mask, MGII_WINDOW, rows=rows,
                             max_masked_fraction=self.max_masked_fraction)
        out.update({f"mgii_{k}": v for k, v in mg.items()})
        metal = measure_metal_index(wave, flux, ivar, mask, fwhm, rows=rows)
        out.update({f"metal_{k}": v for k, v in metal.items()})
        out["balmer_fwhm"] = fwhm
        out["balmer_fwhm_source"] = source
        return out

    def run(self, prepared):
        """Measure every spectrum of ``prepared`` and apply the criteria.

        Parameters
        ----------
        prepared : `~bhbfinder.batch.PreparedBatch`

        Returns
        -------
        `~astropy.table.Table`
            One row per spectrum, in order; columns as in the module docstring.
        """
        values = self.measure(prepared)
        table = Table()
        for name in self.lines:
            prefix = COLUMN_PREFIX.get(name, name.lower())
            flg = values[f"{prefix}_flags"]
            for q, (unit, desc) in {**QUANTITIES, **CORRECTED_QUANTITIES}.items():
                key = f"{prefix}_{q}"
                table[key] = _column(values[key], flg, unit,
                                     f"{name}: {desc}", integer=q in ("flags", "npix"))
        flg = values["cak_flags"]
        table["cak_ew"] = _column(values["cak_ew"], flg, "Angstrom",
                                  "Ca II K equivalent width (K12 band, Beers et al. 1999)")
        table["cak_ew_err"] = _column(values["cak_ew_err"], flg, "Angstrom",
                                      "1-sigma uncertainty of cak_ew")
        table["cak_flags"] = _column(flg, flg, None, "Ca II K quality bit flags (64: "
                                     "interstellar line blended with the stellar one)",
                                     integer=True)
        for q, (unit, desc) in CAK_STELLAR_QUANTITIES.items():
            table[f"cak_{q}"] = _column(values[f"cak_{q}"], flg, unit, desc)
        flg = values["mgii_flags"]
        table["mgii_ew"] = _column(values["mgii_ew"], flg, "Angstrom",
                                   "Mg II 4481 equivalent width (band 4479-4486 A, vacuum)")
        table["mgii_ew_err"] = _column(values["mgii_ew_err"], flg, "Angstrom",
                                       "1-sigma uncertainty of mgii_ew")
        flg = values["metal_flags"]
        for q in ("index", "index_err"):
            unit, desc = METAL_QUANTITIES[q]
            table[f"metal_{q}"] = _column(values[f"metal_{q}"], flg, unit, desc)
        table["metal_npix"] = _column(values["metal_npix"], flg, None,
                                      METAL_QUANTITIES["npix"][1], integer=True)
        table["metal_flags"] = _column(flg, flg, None, "metallic-line index quality bit flags "
                                       "(1 not_covered, 2 masked, 32 bad_row)", integer=True)
        table["balmer_fwhm"] = Column(values["balmer_fwhm"], unit=u.AA, description=(
            "blue-arm FWHM used for the resolution correction and the interstellar K line"))
        table["balmer_fwhm_source"] = Column(values["balmer_fwhm_source"], description=(
            "where balmer_fwhm comes from: meta (the batch), given (the stage's resolution), "
            "assumed (bhbfinder.balmer.resolution.DEFAULT_FWHM)"))
        inputs, absent = _with_meta_inputs(table, prepared.meta, self.criteria.measured_columns)
        derived = self.criteria.derive_columns(inputs)
        for key, value in derived.items():
            unit, desc = self.criteria.derived_columns[key]
            table[key] = _column(value, np.zeros(len(table), int), unit,
                                 f"{desc} (criteria set {self.criteria.name!r})")
        confirmed, reason = self.criteria.evaluate(inputs, derived=derived)
        for key, missing in absent.items():
            reason = np.where(missing, f"{key} not given: the criteria set "
                              f"{self.criteria.name!r} needs it for every spectrum (a column of "
                              "the table of files, or of the batch meta)", reason)
        ok = np.asarray(prepared.ok, bool)
        status = np.asarray(prepared.meta["status"]).astype(str)
        reason = np.where(ok, reason, np.char.add("not prepared: ", status)) if len(ok) else reason
        table["balmer_confirmed"] = Column(confirmed & ok, description=(
            f"passes the Balmer criteria set {self.criteria.name!r}"))
        table["balmer_reason"] = Column(np.asarray(reason, dtype=str), description=(
            "why balmer_confirmed is False (failed cuts and flags); empty when True"))
        table.meta["balmer_criteria"] = self.criteria.name
        table.meta["balmer_criteria_cuts"] = str(self.criteria)
        table.meta["balmer_windows"] = {k: self.windows[k].to_dict() for k in self.lines}
        return table


def _with_meta_inputs(table, meta, wanted):
    """``table`` with the columns a criteria set reads that the stage does not measure (e.g. a
    photometric ``teff_phot`` given in the table of files) taken from the batch meta: NaN
    where the meta lacks them, so that the cuts on them fail with a reason rather than the
    stage with an error. Also returns ``{column: rows where it is missing}``."""
    missing = [k for k in wanted if k not in table.colnames]
    absent = {}
    if not missing:
        return table, absent
    inputs = Table(table, copy=False)
    names = getattr(meta, "colnames", [])
    for key in missing:
        values = np.full(len(table), np.nan)
        if key in names and np.ma.asarray(meta[key]).dtype.kind in "fiu":
            values = np.ma.filled(np.ma.asarray(meta[key], dtype=float), np.nan)
        inputs[key] = values
        absent[key] = ~np.isfinite(values)
    return inputs, absent


def _radial_velocity(meta, n):
    """The velocity (km/s) each spectrum was moved to its rest frame with (NaN: none)."""
    names = getattr(meta, "colnames", [])
    if "rv" not in names:
        return np.full(n, np.nan)
    rv = np.ma.filled(np.ma.asarray(meta["rv"], dtype=float), np.nan).astype(float)
    if "rv_source" in names:
        rv = np.where(np.asarray(meta["rv_source"]).astype(str) == "none", np.nan, rv)
    return rv


def _arrays(prepared):
    wave = np.asarray(prepared.wavelength, dtype=float)
    flux, ivar, mask = prepared.flux, prepared.ivar, prepared.mask
    if wave.ndim != 1:
        raise ConfigurationError("BalmerStage: prepared.wavelength must be the shared 1-D grid "
                                 f"(got shape {wave.shape}); run the prepare stage first")
    if flux.shape != ivar.shape or flux.shape[-1:] != wave.shape:
        raise ConfigurationError(
            f"BalmerStage: flux {flux.shape}, ivar {ivar.shape} and wavelength {wave.shape} "
            "do not match; expected (n, npix) arrays on the (npix,) grid")
    mask = np.zeros(flux.shape, bool) if mask is None else np.asarray(mask, bool)
    return wave, flux, ivar, mask


def _column(data, flags, unit, description, integer=False):
    data = np.asarray(data)
    if integer:
        return Column(data.astype(np.int32), description=description)
    masked = ((np.asarray(flags) & F.NO_VALUES) != 0) | ~np.isfinite(data)
    return MaskedColumn(np.where(masked, np.nan, data), mask=masked, unit=_UNITS.get(unit, unit),
                        description=description)


@hookimpl
def bhbfinder_register_stages():
    """The built-in ``balmer`` stage ``"sersic"``."""
    return [StageInfo("balmer", "sersic", BalmerStage,
                      "Sérsic-profile fits of Hδ/Hγ/Hβ, D0.2/fm, Ca II K; criteria sets")]
