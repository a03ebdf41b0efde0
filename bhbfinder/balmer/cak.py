"""The stellar Ca II K line, with the interstellar K line taken out.

The K12 index of Beers et al. (1999, AJ 117, 981) (`~bhbfinder.balmer.measure.measure_cak`,
column ``cak_ew``) counts every absorption in the 12 Å band around Ca II K. Light from a
distant halo star crosses the disk's gas, which adds a narrow **interstellar** K line of a few
tenths of an Å: as strong as the whole stellar K line of a metal-poor BHB star hotter than
~9000 K. That line sits at the gas's velocity (near zero in LAMOST's heliocentric frame), while
the star's lines are shifted by its radial velocity: in the star's rest frame (where the
prepared spectra are) the interstellar line lies at ``λ_K (1 + (v_ISM − v_r)/c)``.

`measure_cak_stellar` fits, in every spectrum at once, the local-continuum-normalised flux
within ±`FIT_HALFWIDTH` Å of K with two Gaussian lines of fixed position and width, whose
strengths enter linearly (closed-form 2×2 weighted least squares per spectrum):

* the **interstellar** line at the position above, with the instrument's width (it is
  unresolved), its equivalent width drawn towards the prior `ISM_PRIOR` (mean ± σ, Å) where
  the data cannot tell it from the stellar line;
* the **stellar** line at the K rest wavelength, with the instrument's width widened by each of
  `STELLAR_EXTRA_SIGMA` in turn (rotation, pressure wings); the best χ² wins.

The stellar equivalent width ``cak_star_ew`` is the K12-band index minus the part of the fitted
interstellar line that falls in the band. Where the two lines are closer than one instrumental
FWHM (radial velocity below ~150–300 km/s, or none known), the split rests on the prior and the
line carries the ``ism_blended`` flag (a warning, not a failure).
"""

import numpy as np
from scipy.special import erf

from ..spectra.lines import C_KMS
from . import flags as F
from .measure import MAX_MASKED_FRACTION, measure_cak, normalised_window
from .windows import CAK_WINDOW, LineWindow

__all__ = ["ISM_PRIOR", "ISM_VELOCITY", "FIT_HALFWIDTH", "STELLAR_EXTRA_SIGMA",
           "CAK_STELLAR_QUANTITIES", "measure_cak_stellar"]

#: Prior on the interstellar K equivalent width (mean, σ; Å): typical of high-latitude
#: sight lines to halo stars; a configurable default.
ISM_PRIOR = (0.15, 0.15)

#: Heliocentric velocity of the interstellar gas, km/s.
ISM_VELOCITY = 0.0

#: Half-width (Å) of the two-line fit around K.
FIT_HALFWIDTH = 10.0

#: Extra Gaussian σ (Å) of the stellar K line tried in the fit (added in quadrature to the
#: instrument's).
STELLAR_EXTRA_SIGMA = (0.0, 1.2, 2.5)

#: Columns `measure_cak_stellar` returns: name -> (unit, description).
CAK_STELLAR_QUANTITIES = {
    "star_ew": ("Angstrom", "stellar Ca II K equivalent width: the K12 index (cak_ew) minus the "
                            "fitted interstellar K line's share of the band"),
    "star_ew_err": ("Angstrom", "1-sigma uncertainty of cak_star_ew"),
    "ism_ew": ("Angstrom", "equivalent width of the fitted interstellar K line"),
    "ism_ew_err": ("Angstrom", "1-sigma uncertainty of cak_ism_ew"),
    "ism_offset": ("Angstrom", "rest-frame position of the interstellar K line relative to the "
                               "stellar one (-v_r/c λ_K for gas at rest)"),
}


def _gauss(x, sigma):
    return np.exp(-0.5 * (x / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)


def measure_cak_stellar(wavelength, flux, ivar, mask, rv, fwhm, rows=None,
                        window=CAK_WINDOW, ism_velocity=ISM_VELOCITY, ism_prior=ISM_PRIOR,
                        max_masked_fraction=MAX_MASKED_FRACTION, band=None):
    """Stellar and interstellar Ca II K in every spectrum of a rest-frame batch.

    Parameters
    ----------
    wavelength : ndarray, shape (npix,)
        Rest-frame vacuum grid, Å.
    flux, ivar : ndarray, shape (n, npix)
    mask : ndarray of bool, shape (n, npix)
    rv : array-like, shape (n,)
        The radial velocity (km/s) each spectrum was moved to its rest frame with; NaN where
        it was not (the spectrum is in the observed frame, so the interstellar line sits at
        the K wavelength itself).
    fwhm : array-like, shape (n,)
        Instrumental FWHM, Å.
    rows : ndarray of bool, optional
        Spectra to measure (the others get ``BAD_ROW``).
    window : `~bhbfinder.balmer.windows.LineWindow`
        The K12 band and its continuum side bands.
    ism_velocity : float
        Heliocentric velocity of the gas, km/s.
    ism_prior : (float, float)
        Mean and σ of the interstellar equivalent width, Å.
    band : dict, optional
        The output of `~bhbfinder.balmer.measure.measure_cak` for the same spectra (computed
        when not given).

    Returns
    -------
    dict
        Arrays of length n for every key of `CAK_STELLAR_QUANTITIES`, and ``flags`` (the K12
        index's flags, plus ``ISM_BLENDED``).
    """
    n = len(flux)
    rows = np.ones(n, bool) if rows is None else np.asarray(rows, bool)
    rv = np.broadcast_to(np.asarray(rv, dtype=float), (n,))
    fwhm = np.broadcast_to(np.asarray(fwhm, dtype=float), (n,))
    if band is None:
        band = measure_cak(wavelength, flux, ivar, mask, window, rows=rows,
                           max_masked_fraction=max_masked_fraction)
    flags = np.asarray(band["flags"]).copy()
    wide = LineWindow(window.name, window.center, FIT_HALFWIDTH, window.blue_band,
                      window.red_band)
    wave, y, iv, good, _ = normalised_window(wavelength, flux, ivar, mask, wide)
    depth = np.where(good, 1.0 - y, 0.0)
    w = np.where(good, iv, 0.0)
    lam_k = window.center
    offset = np.where(np.isfinite(rv), lam_k * (ism_velocity - rv) / C_KMS,
                      lam_k * ism_velocity / C_KMS)
    sig_i = fwhm / 2.3548
    x = wave[None, :] - lam_k
    g_i = _gauss(x - offset[:, None], sig_i[:, None])
    mu, s_prior = (float(v) for v in ism_prior)
    prior_w = 1.0 / s_prior ** 2
    best = None
    for extra in STELLAR_EXTRA_SIGMA:
        sig_s = np.sqrt(sig_i ** 2 + extra ** 2)
        g_s = _gauss(x, sig_s[:, None])
        ss = np.sum(w * g_s * g_s, axis=1)
        si = np.sum(w * g_i * g_i, axis=1) + prior_w
        cs = np.sum(w * g_s * g_i, axis=1)
        bs = np.sum(w * g_s * depth, axis=1)
        bi = np.sum(w * g_i * depth, axis=1) + prior_w * mu
        det = ss * si - cs * cs
        with np.errstate(invalid="ignore", divide="ignore"):
            amp_s = (si * bs - cs * bi) / det
            amp_i = (ss * bi - cs * bs) / det
            var_i = ss / det
        resid = depth - amp_s[:, None] * g_s - amp_i[:, None] * g_i
        chi2 = np.sum(w * resid * resid, axis=1) + prior_w * (amp_i - mu) ** 2
        chi2 = np.where(np.isfinite(chi2), chi2, np.inf)
        if best is None:
            best = [chi2, amp_i, var_i]
        else:
            better = chi2 < best[0]
            for k, v in enumerate((chi2, amp_i, var_i)):
                best[k] = np.where(better, v, best[k])
    _, amp_i, var_i = best
    lo, hi = window.fit_range
    # share of the interstellar Gaussian inside the K12 band
    z0 = (lo - lam_k - offset) / (np.sqrt(2) * sig_i)
    z1 = (hi - lam_k - offset) / (np.sqrt(2) * sig_i)
    share = 0.5 * (erf(z1) - erf(z0))
    star = band["ew"] - amp_i * share
    star_err = np.sqrt(band["ew_err"] ** 2 + var_i * share ** 2)
    blended = np.abs(offset) < fwhm
    flags = np.where(rows & ((flags & F.NO_VALUES) == 0) & blended, flags | F.ISM_BLENDED, flags)
    bad = (flags & F.NO_VALUES) != 0
    nan = np.nan
    return {"star_ew": np.where(bad, nan, star), "star_ew_err": np.where(bad, nan, star_err),
            "ism_ew": np.where(bad, nan, amp_i), "ism_ew_err": np.where(bad, nan, np.sqrt(var_i)),
            "ism_offset": np.where(rows, offset, nan), "flags": flags}
