"""A faithful reference implementation of SLAM: one RBF support-vector regressor per pixel.

SLAM (Stellar LAbel Machine; Zhang, Liu & Deng 2020, ApJS 246, 9) standardises the training labels
and each pixel's fluxes, fits one `sklearn.svm.SVR` (RBF kernel) per pixel, and infers the labels of
an observed spectrum by (1) the χ² nearest neighbour among the training spectra, then (2)
`scipy.optimize.least_squares` with a soft-L1 loss on the ivar-weighted residuals, within bounds,
with the model's own (cross-validated) error added to the data variance; label errors come from the
Jacobian at the solution. This module reimplements that recipe (the original package pins
scikit-learn 1.2 and uses ``np.bool``, so it breaks on NumPy ≥ 1.24). It is deliberately as slow as
the original, one ``predict`` call per pixel per model evaluation: it exists for tests and for the
comparison with `~bhbfinder.params.emulator.SlamEmulator`, not for production runs.
"""

import numpy as np
from scipy import optimize

from ..errors import ConfigurationError
from .emulator import FLAG_EDGE, FLAG_FEW_PIXELS, FLAG_NOT_CONVERGED, LABEL_NAMES
from .inversion import nearest_neighbour_start

__all__ = ["SvrSlam", "DEFAULT_SVR_HYPERPARAMS"]

#: SLAM's per-pixel SVR settings used by default (C = 1, ε = 0.05 as in the reference run of
#: issue 6; SLAM grid-searches C ∈ 2^-5…2^5, ε ∈ {0.01, 0.05, 0.1, 0.15}, γ ∈ {auto, 0.2…0.5}).
DEFAULT_SVR_HYPERPARAMS = {"C": 1.0, "epsilon": 0.05, "gamma": "auto"}


class SvrSlam:
    """SLAM's per-pixel SVR forward model and its per-spectrum inversion.

    Parameters
    ----------
    C, epsilon, gamma
        `sklearn.svm.SVR` parameters shared by all pixels (on standardised labels and fluxes).
    cv_folds : int
        When > 1, the per-pixel model error is the rms of ``cv_folds``-fold cross-validated
        residuals (SLAM's choice; costs ``cv_folds`` extra fits); 0 uses no model error.
    f_scale : float
        Soft-L1 scale of `scipy.optimize.least_squares` (in σ of the weighted residuals).
    domain_margin : float
        Bounds extend the training range by this fraction of it on each side.
    min_pixels : int
        Spectra with fewer usable pixels are not fitted.
    """

    def __init__(self, C=1.0, epsilon=0.05, gamma="auto", cv_folds=0, f_scale=3.0,
                 domain_margin=0.05, min_pixels=50):
        self.C = C
        self.epsilon = epsilon
        self.gamma = gamma
        self.cv_folds = cv_folds
        self.f_scale = f_scale
        self.domain_margin = domain_margin
        self.min_pixels = min_pixels

    def _svr(self):
        from sklearn.svm import SVR

        return SVR(kernel="rbf", C=self.C, epsilon=self.epsilon, gamma=self.gamma)

    def fit(self, flux, ivar, labels):
        """Fit one SVR per pixel.

        Parameters
        ----------
        flux, ivar : array-like, shape (n, npix)
            Normalised training spectra (pixels with ``ivar = 0`` are left out of that pixel's fit).
        labels : array-like, shape (n, 3)
            Teff, log g, [Fe/H].
        """
        flux = np.asarray(flux, float)
        ivar = np.asarray(ivar, float)
        labels = np.asarray(labels, float)
        if labels.shape != (flux.shape[0], len(LABEL_NAMES)) or flux.shape != ivar.shape:
            raise ConfigurationError("flux, ivar must be (n, npix) and labels (n, 3)")
        good = (ivar > 0) & np.isfinite(flux)
        self.label_mean_ = labels.mean(0)
        self.label_scale_ = labels.std(0)
        self.label_scale_[self.label_scale_ == 0] = 1.0
        z = (labels - self.label_mean_) / self.label_scale_
        y = np.where(good, flux, np.nan)
        self.flux_mean_ = np.nanmean(y, 0)
        self.flux_scale_ = np.nanstd(y, 0)
        self.flux_scale_[~(self.flux_scale_ > 0)] = 1.0
        ys = (y - self.flux_mean_) / self.flux_scale_
        self.svrs_ = [self._fit_pixel(z[good[:, p]], ys[good[:, p], p])
                      for p in range(flux.shape[1])]  # SLAM: one regressor per pixel
        self.model_error_ = np.zeros(flux.shape[1])
        if self.cv_folds and self.cv_folds > 1:
            folds = np.arange(len(z)) % self.cv_folds
            resid = np.full(flux.shape, np.nan)
            for k in range(self.cv_folds):
                test = folds == k
                for p in range(flux.shape[1]):
                    train = ~test & good[:, p]
                    svr = self._fit_pixel(z[train], ys[train, p])
                    resid[test, p] = ys[test, p] - svr.predict(z[test])
            self.model_error_ = np.sqrt(np.nanmean(resid**2, 0)) * self.flux_scale_
        self.train_z_ = z
        self.train_labels_ = labels.copy()
        self.train_flux_ = np.where(good, flux, self.flux_mean_)
        lo, hi = z.min(0), z.max(0)
        margin = self.domain_margin * (hi - lo)
        self._z_range = np.array([lo, hi])
        self._z_bounds = np.array([lo - margin, hi + margin])
        return self

    def _fit_pixel(self, z, y):
        return self._svr().fit(z, y)

    def _predict_z(self, z):
        z = np.atleast_2d(z)
        out = np.column_stack([svr.predict(z) for svr in self.svrs_])
        return self.flux_mean_ + self.flux_scale_ * out

    def predict_spectra(self, labels):
        """Model spectra at ``labels`` (``(m, 3)``): ``(m, npix)``."""
        z = (np.atleast_2d(labels) - self.label_mean_) / self.label_scale_
        return self._predict_z(z)

    def predict(self, flux, ivar, mask=None):
        """Infer labels spectrum by spectrum, as SLAM does.

        Returns
        -------
        labels, label_err : ndarray, shape (m, 3)
        flags : ndarray of int, shape (m,)
            The bits of `bhbfinder.params.emulator.FLAG_DESCRIPTIONS`.
        """
        flux = np.atleast_2d(np.asarray(flux, float))
        ivar = np.atleast_2d(np.asarray(ivar, float))
        ok = (ivar > 0) & np.isfinite(flux)
        if mask is not None:
            ok &= ~np.asarray(mask, bool)
        var = np.where(ok, 1.0 / np.where(ok, ivar, 1.0), np.inf) + self.model_error_**2
        weight = np.where(ok, 1.0 / var, 0.0)
        data = np.where(ok, flux, 0.0)
        m = flux.shape[0]
        labels = np.full((m, 3), np.nan)
        errors = np.full((m, 3), np.nan)
        flags = np.zeros(m, np.int64)
        start = nearest_neighbour_start(data, weight, self.train_flux_)
        for i in range(m):
            if ok[i].sum() < self.min_pixels:
                flags[i] = FLAG_FEW_PIXELS
                continue
            sw = np.sqrt(weight[i])

            def resid(z, i=i, sw=sw):
                return (data[i] - self._predict_z(z)[0]) * sw

            res = optimize.least_squares(resid, self.train_z_[start[i]], loss="soft_l1",
                                         f_scale=self.f_scale,
                                         bounds=(self._z_bounds[0], self._z_bounds[1]))
            labels[i] = res.x * self.label_scale_ + self.label_mean_
            cov = np.linalg.pinv(res.jac.T @ res.jac)
            errors[i] = np.sqrt(np.clip(np.diag(cov), 0, None)) * self.label_scale_
            tol = 1e-3 * (self._z_range[1] - self._z_range[0])
            edge = np.any((res.x < self._z_range[0] + tol) | (res.x > self._z_range[1] - tol))
            flags[i] = (FLAG_EDGE if edge else 0) | (0 if res.success else FLAG_NOT_CONVERGED)
        return labels, errors, flags
