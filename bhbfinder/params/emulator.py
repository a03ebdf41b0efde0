"""A SLAM-style estimator of Teff, log g and [Fe/H] with a forward model of every pixel at once.

SLAM (Zhang, Liu & Deng 2020, ApJS 246, 9) models each pixel's normalised flux as a function of
the standardised labels with its own RBF support-vector regressor, then inverts that model for
each observed spectrum. `SlamEmulator` keeps the two halves but replaces the per-pixel regressors
by one kernel (Gaussian-process / kernel-ridge) emulator shared by all pixels:

.. math::

    f(\\mathbf{z}) = \\mu + s \\odot \\left[ k(\\mathbf{z}, Z)\\, A \\right], \\qquad
    k(\\mathbf{z}, \\mathbf{z}') = \\exp\\Big(-\\tfrac12 \\sum_d (z_d - z'_d)^2 / \\ell_d^2\\Big)
    + \\sigma_\\mathrm{lin}^2 (1 + \\mathbf{z}\\cdot\\mathbf{z}'),

where ``z`` are the standardised labels (``log10 Teff``, ``log g``, ``[Fe/H]`` by default), ``Z``
the training labels, ``A = (K + \\alpha I)^{-1} Y`` the ``(n_train, npix)`` weight matrix of the
standardised training fluxes ``Y``, ``mu`` and ``s`` their per-pixel mean and scale. One kernel
vector times one matrix gives every pixel; the Jacobian is as cheap (the kernel's derivative
times the same matrix). The length scales ``ell`` (one per label) and ``alpha`` are chosen by
minimising the closed-form leave-one-out error of kernel ridge regression (Rasmussen & Williams
2006, eq. 5.12); the same leave-one-out residuals give each pixel's model error, which the
inversion adds to the data variance, as SLAM does with its cross-validated model error.

Optional colours (e.g. Gaia BP−RP, G−RP; Ju et al. 2025) are extra output columns of the same
emulator with their own errors, so they constrain the labels like extra pixels.

With ``split_teff`` the model also holds separate cool and hot kernels, each fitted and tuned
on its side of the split: the whole-library kernel gives a first-pass Teff, and the kernel of
that side refits the spectrum (both, blended linearly in that Teff, near the split).

`SlamEmulator` holds the model, its fit and its forward model, and composes the parts that live
in their own modules:

`bhbfinder.params.kernel`
    the kernel, its gradient, the closed-form leave-one-out residuals and the tuning of the
    length scales and ridge term;
`bhbfinder.params.label_fit`
    the inversion of observed spectra to labels (`SlamEmulator.predict`);
`bhbfinder.params.modelfile`
    the ASDF model file (`SlamEmulator.save`, `SlamEmulator.load`).
"""

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigurationError
from .kernel import (
    SPLIT_KERNELS,
    kernel_and_grad,
    kernel_matrix,
    loo_residuals,
    tune_flux_error,
    tune_label_scatter,
)
from .label_fit import invert_rows, observed_data, prior_rows, refine_split
from .modelfile import load_model, save_model
from .region import SECOND_SOLUTION_DISTANCE, SECOND_SOLUTION_MASS

__all__ = [
    "LABEL_NAMES",
    "LABEL_UNITS",
    "FLAG_EDGE",
    "FLAG_NOT_CONVERGED",
    "FLAG_FEW_PIXELS",
    "FLAG_BAD_FIT",
    "FLAG_SECOND_SOLUTION",
    "FLAG_TEFF_PRIOR",
    "FLAG_DESCRIPTIONS",
    "DEFAULT_EMULATOR_HYPERPARAMS",
    "SlamEmulator",
    "InversionResult",
]

#: The labels, in column order of every ``labels`` array.
LABEL_NAMES = ("teff", "logg", "feh")
#: Their units (astropy strings).
LABEL_UNITS = ("K", "dex", "dex")

#: Bit flags of a fitted spectrum.
FLAG_EDGE = 1  #: a label lies outside the training domain's range (at or near the bound)
FLAG_NOT_CONVERGED = 2  #: the iterations stopped before converging
FLAG_FEW_PIXELS = 4  #: fewer usable pixels than ``min_pixels``: not fitted (NaN)
FLAG_BAD_FIT = 8  #: reduced χ² above ``max_reduced_chi2``
#: the label posterior holds a second solution far in Teff (set by the params stage,
#: `bhbfinder.params.region`)
FLAG_SECOND_SOLUTION = 16
#: a Teff prior from outside the spectrum (``teff_phot``) is fitted with it, chose the χ²
#: minimum and weighs the label posterior (set by the params stage)
FLAG_TEFF_PRIOR = 32
FLAG_DESCRIPTIONS = {
    FLAG_EDGE: "label at the edge of / outside the training domain",
    FLAG_NOT_CONVERGED: "inversion did not converge",
    FLAG_FEW_PIXELS: "too few usable pixels; not fitted",
    FLAG_BAD_FIT: "poor fit (reduced chi2 above the limit)",
    FLAG_SECOND_SOLUTION: f"a second solution: >= {100 * SECOND_SOLUTION_MASS:.0f}% of the "
                          f"label posterior lies more than {SECOND_SOLUTION_DISTANCE:.0f} K in "
                          "Teff from the best fit (the Balmer-maximum degeneracy); Teff and "
                          "log g may belong to the other one",
    FLAG_TEFF_PRIOR: "a photometric Teff (teff_phot) was given: it is fitted with the spectrum, "
                     "chose the fit's start and weighs p_bhb_region and p_second_solution",
}

#: Defaults of `SlamEmulator`'s hyper-parameters (see its docstring).
DEFAULT_EMULATOR_HYPERPARAMS = {
    "length_scale": None,
    "alpha": None,
    "linear_variance": 1.0,
    "poly_degree": 1,
    "log_teff": True,
    "optimize": True,
    "domain_margin": 0.05,
    "f_scale": 3.0,
    "max_iter": 50,
    "min_pixels": 50,
    "max_reduced_chi2": 10.0,
    "model_error": True,
    "robust_clip": None,
    "objective": "flux",
    "n_starts": 1,
    "tune_teff": None,
    "rank_tol": 0.01,
    "split_teff": None,
    "split_pad": 1000.0,
}

_FILL_ITERATIONS = 30
_ROBUST_ROUNDS = 2
_OBJECTIVES = ("flux", "labels")
_REDUCE_SAMPLES = 4000  # labels scattered about the training stars when choosing the basis
_REDUCE_RANKS = (10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100, 120, 140, 160, 200, 250, 300)


@dataclass
class InversionResult:
    """Everything `SlamEmulator.predict` knows about its fits (``return_details=True``).

    Attributes
    ----------
    labels, label_err : ndarray, shape (m, 3)
        Teff (K), log g, [Fe/H] and their 1σ errors (NaN where not fitted).
    flags : ndarray of int, shape (m,)
        Bit flags (`FLAG_DESCRIPTIONS`).
    reduced_chi2 : ndarray, shape (m,)
    n_iter : ndarray of int, shape (m,)
    start : ndarray, shape (m, 3)
        The χ² nearest-neighbour starting labels.
    formal_err : ndarray, shape (m, 3)
        The formal errors ``(J^T W J)^{-1}``; ``label_err`` are these calibrated by the
        model's `~bhbfinder.params.uncertainty.ErrorModel` when it has one.
    hot_weight : ndarray, shape (m,), optional
        With separate hot and cool kernels (``split_teff``): the weight of the hot kernel's fit
        in the result (0: the cool kernel alone, 1: the hot kernel alone); ``None`` for a
        single-kernel model.
    """

    labels: np.ndarray
    label_err: np.ndarray
    flags: np.ndarray
    reduced_chi2: np.ndarray
    n_iter: np.ndarray
    start: np.ndarray
    formal_err: np.ndarray | None = None
    hot_weight: np.ndarray | None = None


class SlamEmulator:
    """Kernel emulator of normalised spectra with batched robust inversion (SLAM-style).

    Parameters
    ----------
    length_scale : sequence of 3 floats, optional
        RBF length scales in standardised label units; chosen by leave-one-out error when
        ``None`` (or used as the starting point when ``optimize``).
    alpha : float, optional
        Ridge term (noise variance in standardised flux units); chosen like ``length_scale``.
    linear_variance : float
        Prior variance of the polynomial part of the kernel, ``(1 + z.z')**poly_degree`` (lets
        the model extrapolate smoothly, rather than fall back to the mean spectrum, near the
        domain's edges).
    poly_degree : int
        Degree of that polynomial kernel: 1 (linear) or 2 (quadratic, as The Cannon's model).
    log_teff : bool
        Model in ``log10 Teff`` rather than Teff.
    optimize : bool
        Tune ``length_scale`` and ``alpha`` by leave-one-out error during `fit`.
    domain_margin : float
        The inversion's bounds extend the training range by this fraction of it on each side.
    f_scale : float
        Soft-L1 scale, in σ of the weighted residuals.
    max_iter : int
        Gauss–Newton / LM iterations at most.
    min_pixels : int
        Spectra with fewer usable pixels are not fitted (flag `FLAG_FEW_PIXELS`).
    max_reduced_chi2 : float
        Above it a fit is flagged `FLAG_BAD_FIT`.
    model_error : bool
        Add the per-pixel leave-one-out model error to the data variance during inversion.
    robust_clip : float, optional
        When set, training stars whose leave-one-out rms residual exceeds ``robust_clip`` times
        the median get a proportionally larger noise term (Huber-style), so peculiar stars or
        wrong labels do not pull the model.
    n_starts : int
        Inversions start from this many lowest-χ² training stars; the lowest-cost fit is kept.
        (On the MILES validation 3 starts found lower-cost but not better fits: the model, not
        the optimiser, limits the accuracy there; hence 1 by default.)
    objective : {"flux", "labels"}
        What ``optimize`` minimises: the leave-one-out flux error (fast), or, after that, the
        leave-one-out scatter of the labels themselves, each training star inverted with the
        model fitted without it (all in one batch, see `~bhbfinder.params.kernel.loo_invert`).
    tune_teff : (float, float), optional
        Only the training stars of this Teff range (K) count in the tuning objective (flux or
        labels): a library that extends beyond the range the model is for (cool and hot stars
        that keep its edges away) keeps hyper-parameters tuned for that range.
    rank_tol : float or None
        The inversion evaluates the emulator in the subspace of output spectra it can produce
        (principal components of its spectra over the training domain): the fewest components
        whose largest error, over the training labels and 4000 labels scattered about them, is
        below ``rank_tol`` times the smallest per-pixel model error. Each evaluation then costs
        ``n_train × rank + rank × npix`` instead of ``n_train × npix`` (SLAM's spectra span a
        few dozen dimensions). ``None`` or 0: the full weights.
    split_teff : (float, float), optional
        Separate hot and cool kernels: besides the kernel of the whole library, a *cool* kernel
        fitted on the training stars with Teff up to ``split_teff[1] + split_pad`` and a *hot*
        one on those from ``split_teff[0] - split_pad`` (K), each with its own length scales,
        ridge term and model error (tuned on the stars of its side: ``tune_teff`` clipped at
        ``split_teff[1]`` for the cool kernel, at ``split_teff[0]`` for the hot one). The
        whole-library kernel gives a first-pass Teff; spectra below ``split_teff[0]`` are then
        refitted by the cool kernel, above ``split_teff[1]`` by the hot one, and in between by
        both, their labels blended linearly in the first-pass Teff (the formal errors as those
        of the mixture of the two fits). The sides take the model's other parameters (with
        ``optimize=False``, its ``length_scale`` and ``alpha``). ``None``: one kernel.
    split_pad : float
        How far (K) each side's training stars reach beyond the blend zone ``split_teff``.

    Attributes
    ----------
    length_scale_, alpha_ : ndarray, float
        The hyper-parameters in use after `fit`.
    model_error_ : ndarray, shape (npix + ncolors,)
        Per-output model error (flux units; magnitudes for colours) from leave-one-out residuals.
    train_labels_ : ndarray, shape (n_train, 3)
    bounds_ : ndarray, shape (2, 3)
        Lower / upper label bounds of the inversion (physical units).
    error_model_ : `~bhbfinder.params.uncertainty.ErrorModel` or None
        Calibration of the errors `predict` returns (set after `fit`, e.g. from held-out
        residuals with `~bhbfinder.params.uncertainty.fit_error_model`; saved with the model).
        ``None``: the formal Jacobian errors.
    kernels_ : dict or None
        With ``split_teff``: ``{"cool": SlamEmulator, "hot": SlamEmulator}``, the two
        single-kernel emulators of the sides (saved in the same file); else ``None``.
    meta : dict
        Free-form metadata saved with the model: ``prepare_config``, ``wavelength``,
        ``validation``, ``provenance``.
    """

    def __init__(self, length_scale=None, alpha=None, linear_variance=1.0, poly_degree=1,
                 log_teff=True,
                 optimize=True, domain_margin=0.05, f_scale=3.0, max_iter=50, min_pixels=50,
                 max_reduced_chi2=10.0, model_error=True, robust_clip=None, objective="flux",
                 n_starts=1, tune_teff=None, rank_tol=0.01, split_teff=None, split_pad=1000.0):
        self.length_scale = length_scale
        self.alpha = alpha
        self.linear_variance = linear_variance
        self.poly_degree = int(poly_degree)
        self.log_teff = log_teff
        self.optimize = optimize
        self.domain_margin = domain_margin
        self.f_scale = f_scale
        self.max_iter = max_iter
        self.min_pixels = min_pixels
        self.max_reduced_chi2 = max_reduced_chi2
        self.model_error = model_error
        self.robust_clip = robust_clip
        if objective not in _OBJECTIVES:
            raise ConfigurationError(
                f"objective={objective!r}; use one of {', '.join(_OBJECTIVES)}")
        self.objective = objective
        self.n_starts = n_starts
        self.tune_teff = None if tune_teff is None else [float(t) for t in tune_teff]
        self.rank_tol = rank_tol
        if split_teff is not None:
            split_teff = [float(t) for t in split_teff]
            if len(split_teff) != 2 or not split_teff[0] < split_teff[1]:
                raise ConfigurationError(f"split_teff={split_teff}: give (low, high) in K, "
                                         "low < high")
        self.split_teff = split_teff
        self.split_pad = float(split_pad)
        self.error_model_ = None
        self.kernels_ = None
        self.meta = {}

    # -- scikit-learn conventions ------------------------------------------------------------
    def get_params(self, deep=True):
        """The constructor's parameters as a dict."""
        return {key: getattr(self, key) for key in DEFAULT_EMULATOR_HYPERPARAMS}

    def set_params(self, **params):
        """Set constructor parameters; returns ``self``."""
        for key, value in params.items():
            if key not in DEFAULT_EMULATOR_HYPERPARAMS:
                raise ConfigurationError(f"SlamEmulator has no parameter {key!r}; use one of "
                                         f"{', '.join(DEFAULT_EMULATOR_HYPERPARAMS)}")
            setattr(self, key, value)
        return self

    @property
    def is_fitted(self):
        return hasattr(self, "weights_")

    @property
    def n_pixels(self):
        """Number of flux pixels the model predicts."""
        return self.flux_mean_.size - self.n_colors

    @property
    def n_colors(self):
        return len(self.color_names_)

    # -- label transforms --------------------------------------------------------------------
    def _transform(self, labels):
        t = np.array(labels, dtype=float)
        if self.log_teff:
            t[..., 0] = np.log10(t[..., 0])
        return t

    def _untransform(self, t):
        x = np.array(t, dtype=float)
        if self.log_teff:
            x[..., 0] = 10.0 ** x[..., 0]
        return x

    def _to_z(self, labels):
        return (self._transform(labels) - self.label_mean_) / self.label_scale_

    def _from_z(self, z):
        return self._untransform(z * self.label_scale_ + self.label_mean_)

    def _dlabel_dz(self, labels):
        """d label / d z, per label (``(m, 3)``): the chain rule between the two spaces."""
        d = np.broadcast_to(self.label_scale_, labels.shape).copy()
        if self.log_teff:
            d[..., 0] *= labels[..., 0] * math.log(10.0)
        return d

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, flux, ivar, labels, colors=None, color_names=None, wavelength=None,
            prepare_config=None, provenance=None, tuning_data=None):
        """Train the emulator.

        Parameters
        ----------
        flux, ivar : array-like, shape (n, npix)
            Normalised training fluxes and inverse variances (``ivar = 0`` marks pixels to fill
            from the model itself; they do not count in the model error).
        labels : array-like, shape (n, 3)
            Teff (K), log g (dex), [Fe/H] (dex).
        colors : array-like, shape (n, ncolors), optional
            Colours to emulate as extra outputs (e.g. Gaia BP−RP, G−RP).
        color_names : sequence of str, optional
            Their names (default ``color0``, ``color1``...).
        wavelength : array-like, shape (npix,), optional
            The pixel grid, saved with the model.
        prepare_config : dict or object with ``to_dict()``, optional
            The preprocessing of the training spectra, saved with the model and checked at
            inference.
        provenance : dict, optional
            Where the training set came from (saved as is).
        tuning_data : (flux, ivar), optional
            Other observations of the same training stars (same rows; e.g. at the S/N the
            model will meet) for ``objective="labels"``: each is inverted by the model fitted
            without its star. Default: the training spectra themselves.

        Returns
        -------
        self
        """
        flux = np.asarray(flux, dtype=float)
        ivar = np.asarray(ivar, dtype=float)
        labels = np.asarray(labels, dtype=float)
        given = (flux, ivar, colors, color_names, tuning_data)
        if flux.ndim != 2 or flux.shape != ivar.shape:
            raise ConfigurationError(f"flux and ivar must be (n, npix) arrays of one shape; got "
                                     f"{flux.shape} and {ivar.shape}")
        if labels.shape != (flux.shape[0], len(LABEL_NAMES)):
            raise ConfigurationError(f"labels must have shape (n, 3) = {(flux.shape[0], 3)} "
                                     f"(teff, logg, feh); got {labels.shape}")
        if not np.all(np.isfinite(labels)) or np.any(labels[:, 0] <= 0):
            raise ConfigurationError("labels must be finite, with Teff > 0 K")
        good = (ivar > 0) & np.isfinite(flux)
        ivar_all = ivar
        if colors is not None:
            colors = np.atleast_2d(np.asarray(colors, dtype=float))
            if colors.shape[0] != flux.shape[0]:
                raise ConfigurationError("colors must have one row per training spectrum")
            flux = np.hstack([flux, colors])
            good = np.hstack([good, np.isfinite(colors)])
            ivar_all = np.hstack([ivar, np.full(colors.shape, np.inf)])
            ncol = colors.shape[1]
            color_names = list(color_names or [f"color{i}" for i in range(ncol)])
            if len(color_names) != ncol:
                raise ConfigurationError(f"color_names has {len(color_names)} names for "
                                         f"{ncol} colour columns")
        else:
            color_names = []
        if (~good).all(axis=0).any():
            raise ConfigurationError("some pixels (or colours) have no valid training value; "
                                     "trim the grid or drop those columns")
        self.color_names_ = list(color_names)
        self.error_model_ = None  # a calibration of earlier weights does not carry over
        if tuning_data is None:
            tune_flux, tune_ivar, tune_good = flux, ivar_all, good
        else:
            tune_flux = np.asarray(tuning_data[0], float)
            tune_ivar = np.asarray(tuning_data[1], float)
            if tune_flux.shape != (len(labels), self.n_pixels_in(flux)) or \
                    tune_ivar.shape != tune_flux.shape:
                raise ConfigurationError("tuning_data must be (flux, ivar) arrays of the training "
                                         "stars' spectra, shape (n, npix)")
            tune_flux = np.hstack([tune_flux, flux[:, tune_flux.shape[1]:]])
            tune_ivar = np.hstack([tune_ivar, ivar_all[:, tune_ivar.shape[1]:]])
            tune_good = (tune_ivar > 0) & np.isfinite(tune_flux)

        t = self._transform(labels)
        self.label_mean_ = t.mean(axis=0)
        self.label_scale_ = t.std(axis=0)
        self.label_scale_[self.label_scale_ == 0] = 1.0
        self.train_z_ = (t - self.label_mean_) / self.label_scale_
        self.train_labels_ = labels.copy()
        z_lo, z_hi = self.train_z_.min(0), self.train_z_.max(0)
        margin = self.domain_margin * (z_hi - z_lo)
        self._z_bounds = np.array([z_lo - margin, z_hi + margin])
        self._z_range = np.array([z_lo, z_hi])
        self.bounds_ = self._from_z(self._z_bounds)

        # standardise each output column; bad values start at the column mean
        y = np.where(good, flux, np.nan)
        self.flux_mean_ = np.nanmean(y, axis=0)
        self.flux_scale_ = np.nanstd(y, axis=0)
        self.flux_scale_[~(self.flux_scale_ > 0)] = 1.0
        ys = np.where(good, (y - self.flux_mean_) / self.flux_scale_, 0.0)

        length_scale = np.broadcast_to(
            np.asarray(self.length_scale if self.length_scale is not None else 1.0, float), (3,)
        ).copy()
        alpha = float(self.alpha if self.alpha is not None else 1e-2)
        self.star_noise_ = np.ones(len(labels))
        w_pix = np.where(good, self.flux_scale_**2, 0.0)
        rounds = 1 + (_ROBUST_ROUNDS if self.robust_clip else int(not good.all()))
        for r in range(rounds):
            if self.optimize and (r == 0 or r == rounds - 1):
                length_scale, alpha = tune_flux_error(self, ys, good, length_scale, alpha)
                if self.objective == "labels" and r == rounds - 1:
                    length_scale, alpha = tune_label_scatter(self, ys, tune_flux, tune_good,
                                                             tune_ivar, length_scale, alpha)
            if not good.all():
                # bad values: fixed point of "value = leave-one-out prediction" (never itself)
                for _ in range(_FILL_ITERATIONS):
                    ys = np.where(good, ys, ys - loo_residuals(self, ys, length_scale, alpha))
            if self.robust_clip and r < rounds - 1:
                # stars the others do not predict (peculiar stars, wrong labels) get a larger
                # noise term, Huber-style, so they do not pull the model (SLAM's SVR is robust
                # through its epsilon-insensitive linear loss)
                loo = loo_residuals(self, ys, length_scale, alpha)
                rms = np.sqrt((w_pix * loo**2).sum(1) / np.maximum(w_pix.sum(1), 1e-300))
                cut = self.robust_clip * np.median(rms)
                self.star_noise_ = np.maximum(1.0, (rms / cut) ** 2)
        loo = loo_residuals(self, ys, length_scale, alpha)
        self.length_scale_ = length_scale
        self.alpha_ = alpha
        kern = kernel_matrix(self.train_z_, self.train_z_, length_scale, self.linear_variance,
                             self.poly_degree)[0]
        self.weights_ = np.linalg.solve(kern + alpha * np.diag(self.star_noise_), ys)
        resid = np.where(good, loo, np.nan) * self.flux_scale_
        # model error of a typical (not clipped) star: weights 1 / star_noise
        sw = np.where(good, 1.0 / self.star_noise_[:, None], 0.0)
        self.model_error_ = np.sqrt(np.nansum(sw * resid**2, axis=0) / sw.sum(axis=0))

        self.train_flux_ = self._predict_z(self.train_z_)  # the nearest-neighbour library
        self._reduce()

        if hasattr(prepare_config, "to_dict"):
            prepare_config = prepare_config.to_dict()
        self.meta = {
            "prepare_config": dict(prepare_config) if prepare_config is not None else None,
            "wavelength": None if wavelength is None else np.asarray(wavelength, float),
            "validation": dict(self.meta.get("validation") or {}),
            "provenance": dict(provenance or {}),
        }
        self.meta["validation"]["loo_flux_rms"] = float(np.sqrt(np.nanmean(
            resid[:, : flux.shape[1] - len(color_names)] ** 2)))
        self.kernels_ = None if self.split_teff is None else self._fit_kernels(labels, *given)
        return self

    def _side_rows(self, labels):
        """Training rows and tuning Teff range of the cool and the hot kernel (``split_teff``)."""
        lo, hi = self.split_teff
        teff = labels[:, 0]
        tlo, thi = self.tune_teff if self.tune_teff is not None else (teff.min(), teff.max())
        return {"cool": (teff <= hi + self.split_pad, (float(tlo), float(min(thi, hi)))),
                "hot": (teff >= lo - self.split_pad, (float(max(tlo, lo)), float(thi)))}

    def _fit_kernels(self, labels, flux, ivar, colors, color_names, tuning_data):
        """The single-kernel emulators of the cool and the hot side (``split_teff``)."""
        params = dict(self.get_params(), split_teff=None)
        kernels = {}
        for name, (rows, tune) in self._side_rows(labels).items():
            teff = labels[rows, 0]
            n_tune = int(((teff >= tune[0]) & (teff <= tune[1])).sum())
            if n_tune < 10:
                raise ConfigurationError(
                    f"split_teff={self.split_teff}: the {name} kernel would have {n_tune} "
                    f"training stars in its tuning range {tune[0]:g}-{tune[1]:g} K; need 10")
            sub = SlamEmulator(**dict(params, tune_teff=list(tune)))
            sub.fit(flux[rows], ivar[rows], labels[rows],
                    colors=None if colors is None else np.atleast_2d(colors)[rows],
                    color_names=color_names,
                    tuning_data=None if tuning_data is None
                    else (np.asarray(tuning_data[0])[rows], np.asarray(tuning_data[1])[rows]))
            sub.meta = {}
            kernels[name] = sub
        return kernels

    def hot_weight(self, teff):
        """Weight of the hot kernel at (first-pass) Teff ``teff`` (``split_teff``).

        0 below ``split_teff[0]``, 1 above ``split_teff[1]``, linear in between; NaN stays NaN.
        """
        if self.split_teff is None:
            raise ConfigurationError("this SlamEmulator has one kernel (split_teff is None)")
        lo, hi = self.split_teff
        return np.clip((np.asarray(teff, float) - lo) / (hi - lo), 0.0, 1.0)

    def n_pixels_in(self, flux):
        """Flux pixels of a (possibly colour-extended) training array."""
        return flux.shape[1] - len(self.color_names_)

    # -- forward model -----------------------------------------------------------------------
    def _kernel_and_grad(self, z):
        return kernel_and_grad(z, self.train_z_, self.length_scale_, self.linear_variance,
                               self.poly_degree)

    def _predict_z(self, z):
        k = kernel_matrix(np.atleast_2d(z), self.train_z_, self.length_scale_,
                          self.linear_variance, self.poly_degree)[0]
        return self.flux_mean_ + self.flux_scale_ * (k @ self.weights_)

    def _model_z(self, z, index=None):
        """Model and Jacobian d f / d z at standardised labels: ``(m, nout)``, ``(m, 3, nout)``."""
        k, dk = self._kernel_and_grad(z)
        f = self.flux_mean_ + self.flux_scale_ * (k @ self.weights_)
        jac = (dk @ self.weights_) * self.flux_scale_
        return f, jac

    def _model_z_fast(self, z, index=None):
        """`_model_z` with the kernel-weight products in float32: ~1.7x faster, for the search;
        a final float64 step (`~bhbfinder.params.label_fit.multi_start`) restores full
        precision."""
        k, dk = self._kernel_and_grad(z)
        cached = getattr(self, "_weights32", None)
        if cached is None or cached[0] is not self.weights_:
            cached = self._weights32 = (self.weights_, self.weights_.astype(np.float32))
        both = np.concatenate([k[:, None, :], dk], axis=1).astype(np.float32) @ cached[1]
        f = self.flux_mean_ + self.flux_scale_ * both[:, 0]
        jac = both[:, 1:] * self.flux_scale_
        return f, jac

    def _reduce(self):
        """The output basis of the inversion's model (see ``rank_tol``)."""
        self._reduced = None
        if not self.rank_tol or self.weights_.shape[1] < 8 or \
                getattr(self, "model_error_", None) is None:
            return
        rng = np.random.default_rng(0)
        z = self.train_z_
        pick = rng.integers(0, len(z), _REDUCE_SAMPLES)
        lo, hi = self._z_bounds
        zs = np.vstack([z, np.clip(z[pick] + rng.normal(0, 0.3, (pick.size, z.shape[1])),
                                   lo, hi)])
        pred = kernel_matrix(zs, z, self.length_scale_, self.linear_variance,
                             self.poly_degree)[0] @ self.weights_
        _, sing, vt = np.linalg.svd(pred, full_matrices=False)
        limit = self.rank_tol * float(np.min(self.model_error_[self.model_error_ > 0],
                                             initial=np.inf))
        if not np.isfinite(limit):
            return
        rank = vt.shape[0]
        for r in _REDUCE_RANKS:
            if r >= vt.shape[0]:
                break
            basis = vt[:r]
            err = (pred - (pred @ basis.T) @ basis) * self.flux_scale_
            if np.abs(err).max() <= limit:
                rank = r
                break
        if rank >= 0.7 * min(self.weights_.shape):  # no gain
            return
        self._set_basis(vt[:rank])

    def _set_basis(self, basis):
        """Use the output basis ``basis`` (rows: orthonormal output vectors)."""
        weights = self.weights_ @ basis.T
        self._reduced = (basis, weights, basis.astype(np.float32), weights.astype(np.float32),
                         self.weights_)

    def _model_z_reduced(self, z, index=None, single=False):
        """`_model_z` in the output basis (``rank_tol``); float32 products when ``single``."""
        reduced = getattr(self, "_reduced", False)
        if reduced is False or (reduced is not None and reduced[4] is not self.weights_):
            self._reduce()  # weights set or changed after fit/load
            reduced = self._reduced
        if reduced is None:
            return self._model_z_fast(z) if single else self._model_z(z)
        basis, weights = (reduced[2], reduced[3]) if single else (reduced[0], reduced[1])
        k, dk = self._kernel_and_grad(z)
        both = np.concatenate([k[:, None, :], dk], axis=1)
        if single:
            both = both.astype(np.float32)
        both = (both @ weights) @ basis
        f = self.flux_mean_ + self.flux_scale_ * both[:, 0]
        jac = both[:, 1:] * self.flux_scale_
        return f, jac

    def _kernel_choice(self, kernel):
        if kernel not in (None, "whole") + SPLIT_KERNELS:
            raise ConfigurationError(f"kernel={kernel!r}; use None, 'whole', 'cool' or 'hot'")
        if kernel in SPLIT_KERNELS and self.kernels_ is None:
            raise ConfigurationError(f"kernel={kernel!r}: this SlamEmulator has one kernel "
                                     "(fit it with split_teff)")
        return kernel

    def predict_spectra(self, labels, colors=False, kernel=None):
        """The emulated normalised spectra at ``labels`` (``(m, 3)``): ``(m, npix)``.

        Parameters
        ----------
        labels : array-like, shape (m, 3)
        colors : bool
            Append the emulated colours as the last columns.
        kernel : {None, "whole", "cool", "hot"}
            With separate kernels (``split_teff``): ``None`` blends the cool and hot kernels'
            spectra with the weight `hot_weight` of each label's Teff (the model `predict`
            inverts); ``"whole"`` the kernel of the whole library, ``"cool"`` / ``"hot"`` one
            side's. A single-kernel model has only ``None`` (= ``"whole"``).
        """
        self._check_fitted()
        kernel = self._kernel_choice(kernel)
        labels = np.atleast_2d(np.asarray(labels, float))
        if kernel in SPLIT_KERNELS:
            return self.kernels_[kernel].predict_spectra(labels, colors)
        if kernel is None and self.kernels_ is not None:
            w = self.hot_weight(labels[:, 0])[:, None]
            return ((1.0 - w) * self.kernels_["cool"].predict_spectra(labels, colors)
                    + w * self.kernels_["hot"].predict_spectra(labels, colors))
        out = self._predict_z(self._to_z(labels))
        return out if colors else out[:, : self.n_pixels]

    def jacobian(self, labels, colors=False, kernel=None):
        """Analytic d flux / d labels (physical units) at ``labels``: ``(m, 3, npix)``.

        ``kernel`` as in `predict_spectra` (the blend's derivative includes that of the
        weight).
        """
        self._check_fitted()
        kernel = self._kernel_choice(kernel)
        labels = np.atleast_2d(np.asarray(labels, float))
        if kernel in SPLIT_KERNELS:
            return self.kernels_[kernel].jacobian(labels, colors)
        if kernel is None and self.kernels_ is not None:
            cool, hot = self.kernels_["cool"], self.kernels_["hot"]
            w = self.hot_weight(labels[:, 0])[:, None, None]
            jac = (1.0 - w) * cool.jacobian(labels, colors) + w * hot.jacobian(labels, colors)
            lo, hi = self.split_teff
            inside = (labels[:, 0] > lo) & (labels[:, 0] < hi)
            diff = hot.predict_spectra(labels, colors) - cool.predict_spectra(labels, colors)
            jac[:, 0] += np.where(inside, 1.0 / (hi - lo), 0.0)[:, None] * diff
            return jac
        _, jac = self._model_z(self._to_z(labels))
        jac = jac / self._dlabel_dz(labels)[:, :, None]
        return jac if colors else jac[:, :, : self.n_pixels]

    # -- inversion ---------------------------------------------------------------------------
    def predict(self, flux, ivar, colors=None, color_ivar=None, mask=None, return_details=False,
                start_labels=None, teff_prior=None):
        """Infer Teff, log g and [Fe/H] for a batch of spectra.

        Parameters
        ----------
        flux, ivar : array-like, shape (m, npix)
            Normalised spectra on the model's grid and their inverse variances.
        colors, color_ivar : array-like, shape (m, ncolors), optional
            Colours (in the order of the training ``color_names``) and their inverse variances;
            NaN or ``color_ivar = 0`` ignores a value. Ignored when the model has no colours.
        mask : array-like of bool, shape (m, npix), optional
            True where a pixel is bad.
        return_details : bool
            Return an `InversionResult` instead of the tuple.
        start_labels : array-like, shape (m, 3), optional
            Where a row is finite, the fit of that spectrum starts there alone (e.g. at the
            label-grid point of highest posterior given a photometric Teff,
            `~bhbfinder.params.region.LabelGridPosterior.posterior_summary`) instead of from
            the ``n_starts`` lowest-χ² training stars, so that it settles in the χ² minimum
            around that start.
        teff_prior : (array-like, array-like), optional
            Mean and 1σ (K, shape (m,)) of a Gaussian prior on Teff from outside the spectrum
            (a photometric temperature), fitted together with the spectrum as one more
            observation of the labels (as colours are); NaN in a row: none. The errors are
            those of the joint fit; the reduced χ² is the spectrum's alone.

        Returns
        -------
        labels : ndarray, shape (m, 3)
            Teff (K), log g, [Fe/H]; NaN where not fitted.
        label_err : ndarray, shape (m, 3)
            1σ errors: from the Jacobian at the solution, ``(J^T W J)^{-1}``, calibrated by
            ``error_model_`` when the model has one.
        flags : ndarray of int, shape (m,)
            Bit flags (see `FLAG_DESCRIPTIONS`).
        """
        self._check_fitted()
        data, var, npix_ok = observed_data(self, flux, ivar, colors, color_ivar, mask)
        m = len(data)
        fit = npix_ok >= self.min_pixels
        labels = np.full((m, 3), np.nan)
        errors = np.full((m, 3), np.nan)
        start = np.full((m, 3), np.nan)
        flags = np.where(fit, 0, FLAG_FEW_PIXELS).astype(np.int64)
        rchi2 = np.full(m, np.nan)
        n_iter = np.zeros(m, int)
        conv = np.ones(m, bool)
        todo = np.flatnonzero(fit)
        given = np.zeros(m, bool)
        if start_labels is not None:
            start_labels = np.asarray(start_labels, float).reshape(m, 3)
            given = np.isfinite(start_labels).all(axis=1)
        for rows in (todo[~given[todo]], todo[given[todo]]):
            if rows.size:
                (labels[rows], errors[rows], start[rows], rchi2[rows], conv[rows],
                 n_iter[rows]) = invert_rows(
                    self, data[rows], var[rows], npix_ok[rows],
                    start_labels=start_labels[rows] if given[rows[0]] else None,
                    first_pass=self.kernels_ is not None,
                    teff_prior=prior_rows(teff_prior, rows, m))
        hot_weight = None
        if self.kernels_ is not None:
            hot_weight = np.full(m, np.nan)
            (labels[todo], errors[todo], rchi2[todo], conv[todo], extra,
             hot_weight[todo]) = refine_split(self, data[todo], var[todo], npix_ok[todo],
                                              labels[todo],
                                              teff_prior=prior_rows(teff_prior, todo, m))
            n_iter[todo] += extra
        z = self._to_z(labels[todo])
        tol = 1e-3 * (self._z_range[1] - self._z_range[0])
        edge = ((z < self._z_range[0] + tol) | (z > self._z_range[1] - tol)).any(axis=1)
        fl = np.where(edge, FLAG_EDGE, 0) | np.where(conv[todo], 0, FLAG_NOT_CONVERGED)
        fl |= np.where(rchi2[todo] > self.max_reduced_chi2, FLAG_BAD_FIT, 0)
        flags[todo] = fl
        formal = errors
        if self.error_model_ is not None:
            errors = np.where(np.isfinite(labels), self.error_model_.apply(labels, formal),
                              np.nan)
        if return_details:
            return InversionResult(labels, errors, flags, rchi2, n_iter, start, formal,
                                   hot_weight)
        return labels, errors, flags

    def _check_fitted(self):
        if not self.is_fitted:
            raise ConfigurationError("this SlamEmulator is not fitted yet: call fit() or "
                                     "SlamEmulator.load(path) first")

    # -- persistence -------------------------------------------------------------------------
    def save(self, path, overwrite=True):
        """Write the fitted model to an ASDF file (arrays + metadata; no pickle).

        A model with separate hot and cool kernels (``split_teff``) stores them under
        ``kernels`` and is written as format version 2; a single-kernel model as version 1,
        which earlier versions of bhbfinder read. The file's layout:
        `bhbfinder.params.modelfile`.
        """
        save_model(self, path, LABEL_NAMES, LABEL_UNITS, overwrite=overwrite)

    @classmethod
    def load(cls, path):
        """Read a model written by `save` (format version 1: one kernel, or 2: hot and cool
        kernels).

        Raises
        ------
        ModelFileError
            When the file is missing, unreadable or not a SLAM-emulator model.
        """
        return load_model(path, cls)
