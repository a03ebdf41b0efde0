"""The pipeline's ``params`` stage: Teff, log g and [Fe/H] from a `~bhbfinder.params.SlamEmulator`.

Registered as stage kind ``params``, name ``slam-emulator`` (the default). Without a model it
loads the model shipped in ``bhbfinder/data`` (`DEFAULT_MODEL`), trained on MILES stars of
6000–16000 K (see ``scripts/train_slam_default.py``): results at the edges of that domain are
flagged, and its errors are calibrated on held-out stars.
"""


import astropy.units as u
import numpy as np
from astropy.table import MaskedColumn, Table

from .. import _data
from .._data import DEFAULT_MODELS
from ..errors import ConfigurationError, PreprocessingMismatchError
from ..hookspecs import STAGE_KINDS, hookimpl
from ..io.base import STATUS_OK, meta_numbers
from ..params.emulator import (
    FLAG_DESCRIPTIONS,
    FLAG_FEW_PIXELS,
    FLAG_SECOND_SOLUTION,
    FLAG_TEFF_PRIOR,
    LABEL_NAMES,
    SlamEmulator,
)
from ..params.extinction import deredden, reddening_coefficient
from ..params.label_fit import teff_prior_arrays
from ..params.region import (
    DEFAULT_TEMPER,
    SECOND_SOLUTION_DISTANCE,
    SECOND_SOLUTION_MASS,
    LabelGridPosterior,
)
from ..spectra.prepare import PrepareConfig, check_prepared
from ..verdict.features import BHB_TEFF_MIN, BOX_FEH_MAX, in_bhb_region
from . import StageInfo

__all__ = ["ParamsStage", "DEFAULT_MODEL", "PARAMS_COLUMNS", "default_model_path"]

#: File name of the shipped model, in ``bhbfinder/data``.
DEFAULT_MODEL = DEFAULT_MODELS["params"]

#: The columns `ParamsStage.run` returns: name -> (unit, description).
PARAMS_COLUMNS = {
    "teff": (u.K, "effective temperature (SLAM-style emulator; fitted with the photometric "
                  f"teff_phot where one was given, params_flags bit {FLAG_TEFF_PRIOR})"),
    "teff_err": (u.K, "1-sigma uncertainty of teff: the fit's Jacobian error calibrated on "
                      "held-out stars (the model's error model)"),
    "logg": (u.dex, "surface gravity log10(g / cm s^-2) (SLAM-style emulator)"),
    "logg_err": (u.dex, "1-sigma uncertainty of logg: the fit's Jacobian error calibrated on "
                        "held-out stars (the model's error model)"),
    "feh": (u.dex, "metallicity [Fe/H] (SLAM-style emulator)"),
    "feh_err": (u.dex, "1-sigma uncertainty of feh: the fit's Jacobian error calibrated on "
                       "held-out stars (the model's error model)"),
    "params_flags": (None, "bit flags of the parameter fit: " + "; ".join(
        f"{bit} = {text}" for bit, text in FLAG_DESCRIPTIONS.items())),
    "p_bhb_region": (None, "posterior probability that Teff, log g, [Fe/H] lie in the BHB "
                           "region (Culpan et al. 2024 Kiel box, Teff >= "
                           f"{BHB_TEFF_MIN:.0f} K, [Fe/H] < {BOX_FEH_MAX}): the emulator's "
                           "chi2 over a label grid, "
                           "tempered (bhbfinder.params.region), times the teff_phot prior "
                           "where one was given; not a BHB probability"),
    "p_second_solution": (None, "share of the same tempered label posterior more than "
                                f"{SECOND_SOLUTION_DISTANCE:.0f} K in Teff from the best fit: "
                                "a second solution across the Balmer maximum (params_flags "
                                f"bit {FLAG_SECOND_SOLUTION} from {SECOND_SOLUTION_MASS:g})"),
}

def default_model_path():
    """Path of the shipped default model (`DEFAULT_MODEL`)."""
    return _data.default_model_path("params")


class ParamsStage:
    """Atmospheric parameters for every spectrum of a prepared batch.

    Parameters
    ----------
    model : `SlamEmulator`, str or path-like, optional
        A fitted emulator or the ASDF file of one (default: the shipped hot-star model).
    colors : sequence of str, optional
        Meta columns holding the colours the model was trained with (same order as its
        ``color_names_``), used as extra constraints when present in the batch's meta, with
        errors from ``<name>_err`` columns when they exist (else ``color_error``).
    color_error : float
        Colour uncertainty (mag) when the meta has no error column.
    classes : tuple of str or None
        The stage-1 classes whose spectra the pipeline hands to this stage (others get masked
        parameters); None: every spectrum. Default BHB, A, B, the stars the shipped model
        covers.
    region_temper : float or None
        Tempering of the label posterior behind ``p_bhb_region``
        (`~bhbfinder.params.region.LabelGridPosterior`), which also sets the ``params_flags``
        bit `~bhbfinder.params.emulator.FLAG_SECOND_SOLUTION` where the posterior holds a
        second solution far in Teff; ``None`` or 0 leaves both out.
    ebv_column : str or None
        Meta column of the reddening :math:`E(B-V)` (SFD scale): where the batch has it, the
        colours are dereddened before the fit (`bhbfinder.params.extinction.deredden`) and its
        error (column ``<ebv_column>_err``, else ``ebv_relative_error`` times the value) is
        added to theirs; a row whose reddening is NaN or masked fits without colours. Without
        the column the colours are taken as already dereddened. None: never deredden.
    ebv_relative_error : float
        Relative error of :math:`E(B-V)` when there is no error column (0.16: the accuracy
        Schlegel, Finkbeiner & Davis 1998 give for their maps).
    extinction_coefficients : dict, optional
        Extra or replacement coefficients
        (`bhbfinder.params.extinction.reddening_coefficient`).
    teff_phot_column : str or None
        Meta column of a temperature from outside the spectrum (K; a dereddened colour's,
        e.g. in the table of files, as for the Balmer set ``lamost-phot``). Where a row has
        one, it is a Gaussian prior (deviation from ``<teff_phot_column>_err``, else
        ``teff_phot_error``): it multiplies the label posterior behind ``p_bhb_region`` and
        ``p_second_solution``, the fit starts at that posterior's most probable grid point
        (so that it settles on that side of the Balmer maximum), and it is fitted with the
        spectrum as one more observation of Teff (``params_flags`` bit
        `~bhbfinder.params.emulator.FLAG_TEFF_PRIOR`). A row whose value or error is
        missing, masked, not finite or not positive is fitted without it; a column that is
        not numeric is a `~bhbfinder.errors.ConfigurationError`. Needs the label grid
        (``region_temper``); None: never used.
    teff_phot_error : float
        Its 1σ error (K) where the batch has no error column (250: a dereddened colour's,
        as ``lamost-phot`` assumes).
    """

    def __init__(self, model=None, colors=None, color_error=0.02,
                 classes=STAGE_KINDS["params"].classes, region_temper=DEFAULT_TEMPER,
                 ebv_column="ebv", ebv_relative_error=0.16, extinction_coefficients=None,
                 teff_phot_column="teff_phot", teff_phot_error=250.0):
        self.classes = None if classes is None else tuple(classes)
        if model is None:
            model = default_model_path()
        if not isinstance(model, SlamEmulator):
            model = SlamEmulator.load(model)
        self.model = model
        self.colors = list(colors) if colors is not None else list(model.color_names_)
        self.color_error = float(color_error)
        self.ebv_column = None if ebv_column in (None, "") else str(ebv_column)
        self.ebv_relative_error = float(ebv_relative_error)
        if not self.ebv_relative_error >= 0:
            raise ConfigurationError(f"params ebv_relative_error must be >= 0, got "
                                     f"{ebv_relative_error!r}")
        self.extinction_coefficients = dict(extinction_coefficients or {})
        if self.ebv_column and self.model.n_colors:
            # an unknown band fails here, at construction, not in the middle of a run
            for name in self.model.color_names_:
                reddening_coefficient(name, self.extinction_coefficients)
        self.region = None
        if region_temper:
            try:
                temper = float(region_temper)
            except (TypeError, ValueError):
                raise ConfigurationError(f"params region_temper must be a positive number "
                                         f"(or 0 / None to leave p_bhb_region out), got "
                                         f"{region_temper!r}") from None
            self.region = LabelGridPosterior(model, temper=temper)
        self.teff_phot_column = None if teff_phot_column in (None, "") else str(teff_phot_column)
        try:
            self.teff_phot_error = float(teff_phot_error)
        except (TypeError, ValueError):
            self.teff_phot_error = float("nan")
        if not self.teff_phot_error > 0:
            raise ConfigurationError(f"params teff_phot_error must be a positive number of K, "
                                     f"got {teff_phot_error!r}")

    @property
    def prepare_config(self):
        """The preprocessing the model was trained with (what the pipeline prepares for it)."""
        config = self.model.meta.get("prepare_config")
        return None if config is None else PrepareConfig.from_dict(config)

    @property
    def wavelength(self):
        """The wavelength grid the model was trained on (None when the file has none)."""
        return self.model.meta.get("wavelength")

    def check(self, prepared):
        """Raise `PreprocessingMismatchError` unless ``prepared`` was prepared as the model was
        (`~bhbfinder.spectra.prepare.check_prepared`)."""
        check_prepared(prepared, self.prepare_config, self.wavelength, what="the params model")
        if self.wavelength is None and prepared.flux.shape[1] != self.model.n_pixels:
            raise PreprocessingMismatchError(
                f"the params model predicts {self.model.n_pixels} pixels but the batch has "
                f"{prepared.flux.shape[1]}; prepare the spectra with the model's prepare_config"
            )

    def _colors(self, meta, rows):
        if not self.model.n_colors or not self.colors:
            return None, None
        if len(self.colors) != self.model.n_colors:
            raise ConfigurationError(
                f"colors names {len(self.colors)} columns but the model was trained with "
                f"{self.model.n_colors} ({', '.join(self.model.color_names_)})"
            )
        m = int(rows.sum())
        values = np.full((m, len(self.colors)), np.nan)
        errors = np.full_like(values, np.nan)
        for j, name in enumerate(self.colors):
            if name not in meta.colnames:
                continue
            col = np.ma.filled(np.ma.asarray(meta[name], dtype=float), np.nan)[rows]
            err_name = name + "_err"
            if err_name in meta.colnames:
                err = np.ma.filled(np.ma.asarray(meta[err_name], dtype=float), np.nan)[rows]
            else:
                err = np.full(m, self.color_error)
            values[:, j], errors[:, j] = col, err
        if self.ebv_column and self.ebv_column in meta.colnames:
            ebv = np.ma.filled(np.ma.asarray(meta[self.ebv_column], dtype=float), np.nan)[rows]
            err_name = self.ebv_column + "_err"
            if err_name in meta.colnames:
                ebv_err = np.ma.filled(np.ma.asarray(meta[err_name], dtype=float),
                                       np.nan)[rows]
            else:
                ebv_err = self.ebv_relative_error * np.abs(ebv)
            ebv_err = np.where(np.isfinite(ebv_err) & (ebv_err >= 0), ebv_err, np.nan)
            values, errors = deredden(values, self.model.color_names_, ebv,
                                      np.nan_to_num(ebv_err, nan=0.0), errors,
                                      self.extinction_coefficients)
            errors[~np.isfinite(ebv_err)] = np.nan
        good = np.isfinite(values) & np.isfinite(errors) & (errors > 0)
        ivar = np.where(good, 1.0 / np.where(good, errors, 1.0) ** 2, 0.0)
        return np.where(good, values, np.nan), ivar

    def _teff_prior(self, meta, rows):
        """Mean and deviation (K) of each row's photometric Teff prior; NaN where none (a
        missing, masked, non-finite or non-positive value or error)."""
        m = int(rows.sum())
        nan = np.full(m, np.nan)
        name = self.teff_phot_column
        if self.region is None or name is None or name not in meta.colnames:
            return nan, nan.copy()
        mean = _numbers(meta, name)[rows]
        if name + "_err" in meta.colnames:
            sigma = _numbers(meta, name + "_err")[rows]
        else:
            sigma = np.full(m, self.teff_phot_error)
        return teff_prior_arrays((mean, sigma), m)

    def run(self, prepared):
        """Fit every ``status == "ok"`` spectrum of a `~bhbfinder.batch.PreparedBatch`.

        Returns
        -------
        `~astropy.table.Table`
            One row per spectrum, columns `PARAMS_COLUMNS` (``p_bhb_region`` only with
            ``region_temper``); masked where the row's status is not ``"ok"`` or the spectrum
            had too few usable pixels.
        """
        self.check(prepared)
        n = len(prepared)
        rows = np.asarray(prepared.meta["status"]) == STATUS_OK
        labels = np.full((n, 3), np.nan)
        errors = np.full((n, 3), np.nan)
        flags = np.zeros(n, np.int64)
        p_region = np.full(n, np.nan)
        p_far = np.full(n, np.nan)
        if rows.any():
            colors, color_ivar = self._colors(prepared.meta, rows)
            flux, ivar, mask = prepared.flux[rows], prepared.ivar[rows], prepared.mask[rows]
            prior = self._teff_prior(prepared.meta, rows)
            has_prior = np.isfinite(prior[0])
            start = None
            if has_prior.any():
                # one pass of the posterior with the prior gives the fits' starts, the region's
                # mass and the Teff marginal the far mass is taken from once the fit is done
                start = np.full((len(flux), 3), np.nan)
                region_h, _, start[has_prior], marginal = self.region.posterior_summary(
                    flux[has_prior], ivar[has_prior], in_bhb_region, mask=mask[has_prior],
                    min_pixels=self.model.min_pixels,
                    teff_prior=(prior[0][has_prior], prior[1][has_prior]),
                    return_best=True, return_teff_marginal=True)
            lab, err, fl = self.model.predict(
                flux, ivar, colors=colors, color_ivar=color_ivar, mask=mask,
                start_labels=start, teff_prior=prior if has_prior.any() else None)
            fl = fl | np.where(has_prior & np.isfinite(lab[:, 0]), FLAG_TEFF_PRIOR, 0)
            labels[rows], errors[rows], flags[rows] = lab, err, fl
            if self.region is not None:
                p_in, far = np.full(len(flux), np.nan), np.full(len(flux), np.nan)
                if has_prior.any():
                    p_in[has_prior] = region_h
                    far[has_prior] = self.region.far_mass(marginal, lab[has_prior, 0])
                plain = ~has_prior
                if plain.any():
                    p_in[plain], far[plain] = self.region.posterior_summary(
                        flux[plain], ivar[plain], in_bhb_region, teff=lab[plain, 0],
                        mask=mask[plain], min_pixels=self.model.min_pixels)
                p_region[rows], p_far[rows] = p_in, far
                flags[rows] |= np.where(np.nan_to_num(far) >= SECOND_SOLUTION_MASS,
                                        FLAG_SECOND_SOLUTION, 0)
        missing = ~rows | (flags & FLAG_FEW_PIXELS).astype(bool)
        table = Table()
        for j, name in enumerate(LABEL_NAMES):
            for key, values in ((name, labels[:, j]), (name + "_err", errors[:, j])):
                unit, description = PARAMS_COLUMNS[key]
                table[key] = MaskedColumn(values, mask=missing, unit=unit,
                                          description=description)
        unit, description = PARAMS_COLUMNS["params_flags"]
        table["params_flags"] = MaskedColumn(flags, mask=~rows, description=description)
        if self.region is not None:
            _, description = PARAMS_COLUMNS["p_bhb_region"]
            table["p_bhb_region"] = MaskedColumn(p_region, mask=missing | ~np.isfinite(p_region),
                                                 description=description)
            _, description = PARAMS_COLUMNS["p_second_solution"]
            table["p_second_solution"] = MaskedColumn(p_far, mask=missing | ~np.isfinite(p_far),
                                                      description=description)
        return table


def _numbers(meta, name):
    return meta_numbers(meta, name, "params (a photometric temperature in K and its error)")


@hookimpl
def bhbfinder_register_stages():
    return [StageInfo("params", "slam-emulator", ParamsStage,
                      "SLAM-style Teff, log g, [Fe/H]: kernel emulator + batched robust inversion")]
