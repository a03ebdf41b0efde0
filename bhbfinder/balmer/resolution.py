"""The spectrograph's resolution and its effect on the fitted Balmer profiles.

The instrument convolves every line with its line-spread function. At LAMOST's blue-arm
resolution (FWHM ≈ 2–4 Å, differing from fibre to fibre) this rounds the Sérsic profile's core:
the fitted depth *a* falls, the scale width *b* and the shape *c* grow, while D0.2 (measured
20 % below the continuum, in the wings) hardly moves and the equivalent width not at all. From
FWHM 2 to 4 Å the Hγ *b* of an A-type star grows by ~0.8 Å, as much as the difference between a
BHB star and a main-sequence A star at the same temperature.

`correct_to_reference` maps ``(a, b, c)`` fitted at FWHM *f* to the values the same line would
give at the reference FWHM `REFERENCE_FWHM` (2.5 Å, LAMOST's nominal R ≈ 1800 at 4500 Å). The
correction is a polynomial in ``s = f² − 2.5²`` and ``s²`` whose coefficients depend on the
measured ``(a, 1/b, c)``; `derive_resolution_correction` fits it to noiseless Sérsic profiles
convolved with Gaussians of FWHM 1.5–4.5 Å, integrated over LAMOST pixels and fitted with
`~bhbfinder.balmer.fit.fit_batched` (the shipped coefficients `CORRECTION_COEFFICIENTS` come from
it with its defaults); within *a* ∈ [0.55, 0.88], *b* ∈ [5.5, 14] Å, *c* ∈ [0.7, 1.6] it reproduces
the reference values to 0.002 in *a*, 0.06 Å in *b* and 0.007 in *c* (95th percentiles).

Where the resolution comes from (`resolution_fwhm`): LAMOST low-resolution files do not record
the resolution of a fibre (no header keyword), so for them the stage **assumes**
`DEFAULT_FWHM` and the correction is zero; the criteria set ``"lamost"`` is derived on spectra
rendered at FWHM 2–4 Å measured that way, so its boxes hold the spread that an unknown
resolution leaves. Where a batch's meta carries ``resolution_fwhm`` (blue-arm FWHM at 4500 Å,
Å) or ``resolving_power`` (R at 4500 Å), for instance joined from a per-fibre resolution table,
that value is used per spectrum; a number given to the stage overrides both. The resolution
cannot be measured from the stars themselves at the needed precision: the sharpest features of
BHB stars are their Balmer cores, which the resolution and the star's own rotation round alike.
"""

import numpy as np

from ..errors import ConfigurationError
from .fit import fit_batched
from .profile import d02_from_params, sersic_profile

__all__ = ["REFERENCE_FWHM", "DEFAULT_FWHM", "FWHM_RANGE", "CORRECTION_COEFFICIENTS",
           "RESOLUTION_SOURCES", "resolution_fwhm", "correct_to_reference", "observe_profile",
           "derive_resolution_correction"]

#: The FWHM (Å) the ``_corr`` columns refer to: LAMOST's nominal R ≈ 1800 at 4500 Å.
REFERENCE_FWHM = 2.5

#: The FWHM (Å) assumed where nothing says otherwise.
DEFAULT_FWHM = 2.5

#: FWHMs outside this range (Å) are clipped to it before the correction (its derivation range).
FWHM_RANGE = (1.5, 4.5)

#: Values of the ``balmer_fwhm_source`` column.
RESOLUTION_SOURCES = ("meta", "given", "assumed")

_GRID_LOG10 = (3.5682, 1e-4)   # the LAMOST pixel grid the correction is derived on
_CENTER = 4341.69              # Hγ, vacuum


def _features(a, b, c):
    u = 1.0 / b
    return np.stack([np.ones_like(a), a, c, u, u * u, u ** 3, c * u, a * u, c * c, a * c,
                     c * u * u, a * a], axis=-1)


#: Coefficients of the correction: ``Δp = s·F·w₁ + s²·F·w₂`` for p = a, b, c (columns), with
#: ``F`` = (1, a, c, u, u², u³, cu, au, c², ac, cu², a²), u = 1/b, of the measured values and
#: ``s = FWHM² − REFERENCE_FWHM²`` (Å²). Shape (24, 3). From `derive_resolution_correction()`.
CORRECTION_COEFFICIENTS = np.array([
    [3.689176e-03, -4.747057e-01, -9.655643e-03],
    [7.340096e-03, -2.016151e-02, -2.450527e-03],
    [-8.030862e-03, 6.189531e-01, 1.487664e-03],
    [9.609534e-03, -1.912048e-01, 1.168242e-01],
    [1.929500e-01, 2.697268e-01, -8.053636e-01],
    [-1.011344e-01, -7.803653e+00, -6.740731e-01],
    [-4.132850e-02, -3.473252e-01, -1.151095e-01],
    [8.123575e-02, -4.227317e-03, -8.821036e-03],
    [4.921498e-03, -1.915259e-01, 3.829585e-03],
    [-7.537469e-03, 7.617482e-03, 1.448377e-03],
    [6.320523e-03, 1.996348e+00, 5.605762e-01],
    [-5.784081e-04, 6.508564e-03, 1.049991e-03],
    [5.565588e-05, 3.706756e-03, -4.917467e-04],
    [-7.642545e-05, 7.029466e-04, 3.339571e-05],
    [3.753430e-05, -8.424343e-03, 4.139794e-04],
    [-2.278442e-03, 7.194493e-02, 1.350626e-02],
    [1.483457e-02, -3.437353e-01, -6.442118e-02],
    [2.107615e-02, -5.754492e-01, -1.018994e-01],
    [1.649706e-03, -5.691080e-02, -1.046018e-02],
    [-3.076888e-04, 2.680147e-03, 3.935483e-04],
    [-7.537899e-05, 4.085361e-03, -3.038971e-05],
    [1.373079e-04, -7.574062e-04, -3.708850e-05],
    [-1.033623e-02, 3.217316e-01, 6.026503e-02],
    [-5.599598e-05, 2.181235e-04, -6.277376e-06],
])


def resolution_fwhm(meta, resolution="meta", n=None):
    """The blue-arm FWHM (Å) of every spectrum, and where it comes from.

    Parameters
    ----------
    meta : `~astropy.table.Table`, dict or None
        The batch's meta; columns ``resolution_fwhm`` (Å) or ``resolving_power`` (R at 4500 Å)
        are used where finite and positive.
    resolution : "meta" or float
        ``"meta"``: the meta columns, else `DEFAULT_FWHM`; a number: that FWHM (Å) for all.
    n : int, optional
        Number of spectra (default ``len(meta)``).

    Returns
    -------
    fwhm : ndarray of float
    source : ndarray of str
        ``"meta"``, ``"given"`` or ``"assumed"`` per spectrum.
    """
    if n is None:
        n = len(meta) if hasattr(meta, "colnames") else len(next(iter(meta.values())))
    n = int(n)
    if not isinstance(resolution, str):
        try:
            value = float(resolution)
        except (TypeError, ValueError):
            value = float("nan")
        if not np.isfinite(value) or value <= 0:
            raise ConfigurationError(
                f"resolution={resolution!r}: give the blue-arm FWHM in Å (e.g. 2.5) or 'meta'")
        return np.full(n, value), np.full(n, "given")
    if resolution != "meta":
        raise ConfigurationError(
            f"resolution={resolution!r}: use 'meta' or the blue-arm FWHM in Å (e.g. 2.5)")
    fwhm = np.full(n, np.nan)
    names = getattr(meta, "colnames", None) or (list(meta) if meta is not None else [])
    if "resolution_fwhm" in names:
        fwhm = _finite_positive(meta["resolution_fwhm"], n)
    if "resolving_power" in names:
        r = _finite_positive(meta["resolving_power"], n)
        fwhm = np.where(np.isfinite(fwhm), fwhm, 4500.0 / r)
    known = np.isfinite(fwhm)
    return np.where(known, fwhm, DEFAULT_FWHM), np.where(known, "meta", "assumed")


def _finite_positive(values, n):
    v = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan).astype(float)
    v = np.broadcast_to(v, (n,)).copy()
    v[~(np.isfinite(v) & (v > 0))] = np.nan
    return v


def correct_to_reference(a, b, c, fwhm, coefficients=None):
    """Sérsic parameters fitted at ``fwhm`` (Å), as they would be at `REFERENCE_FWHM`.

    Parameters
    ----------
    a, b, c : array-like
        Fitted depth, scale width (Å) and shape.
    fwhm : float or array-like
        The spectrum's FWHM, Å (clipped to `FWHM_RANGE`).
    coefficients : ndarray, shape (24, 3), optional
        Default `CORRECTION_COEFFICIENTS`.

    Returns
    -------
    a, b, c : ndarray
        NaN where an input is NaN.

    Examples
    --------
    >>> a, b, c = correct_to_reference(0.7, 9.0, 1.0, 2.5)   # at the reference: unchanged
    >>> float(a), float(b), float(c)
    (0.7, 9.0, 1.0)
    """
    W = CORRECTION_COEFFICIENTS if coefficients is None else np.asarray(coefficients, float)
    a, b, c, f = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (a, b, c, fwhm)))
    f = np.clip(f, *FWHM_RANGE)
    s = (f * f - REFERENCE_FWHM ** 2)[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        F = _features(a, b, c)
        X = np.concatenate([s * F, s * s * F], axis=-1)
        delta = X @ W
    return a + delta[..., 0], b + delta[..., 1], c + delta[..., 2]


def observe_profile(a, b, c, fwhm, center=_CENTER, wave=None, step=0.02):
    """Noiseless Sérsic profiles as a spectrograph of Gaussian FWHM ``fwhm`` records them.

    The profile is computed on a ``step``-Å grid, convolved with the Gaussian and averaged over
    each pixel of ``wave`` (default: the LAMOST log-λ pixels within ±30 Å of ``center``).

    Returns
    -------
    wave : ndarray, shape (m,)
    flux : ndarray, shape (n, m)
    """
    a, b, c, fwhm = (np.atleast_1d(np.asarray(x, dtype=float)) for x in (a, b, c, fwhm))
    a, b, c, fwhm = np.broadcast_arrays(a, b, c, fwhm)
    if wave is None:
        grid = 10 ** (_GRID_LOG10[0] + _GRID_LOG10[1] * np.arange(3909))
        wave = grid[np.abs(grid - center) <= 30.0]
    wave = np.asarray(wave, dtype=float)
    half = (wave[-1] - wave[0]) / 2 + 10 * fwhm.max() + 5
    fine = center + np.arange(-half, half + step / 2, step)
    prof = sersic_profile(fine, a, b, c, center) - 1.0          # (n, F), zero far out
    k = np.fft.rfftfreq(fine.size, d=step)
    sig = fwhm[:, None] / 2.3548
    smooth = np.fft.irfft(np.fft.rfft(prof, axis=1) * np.exp(-2 * (np.pi * k * sig) ** 2),
                          n=fine.size, axis=1) + 1.0
    edges = np.sqrt(wave[:-1] * wave[1:])
    edges = np.concatenate([[wave[0] ** 2 / edges[0]], edges, [wave[-1] ** 2 / edges[-1]]])
    cum = np.concatenate([np.zeros((len(a), 1)), np.cumsum(smooth, axis=1) * step], axis=1)
    pos = np.concatenate([fine - step / 2, [fine[-1] + step / 2]])
    at = np.stack([np.interp(edges, pos, row) for row in cum])
    return wave, np.diff(at, axis=1) / np.diff(edges)


def derive_resolution_correction(n=3000, seed=0, fwhms=(1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5)):
    """Fit the correction coefficients (see the module docstring).

    ``n`` profiles with ``a`` ∈ [0.45, 0.9], ``b`` ∈ [4, 16] Å and ``c`` ∈ [0.6, 1.8] (uniform,
    seeded) are observed at each FWHM of ``fwhms`` and fitted; the change from each FWHM to the
    reference is regressed on the measured values.

    Returns
    -------
    ndarray, shape (24, 3)
    """
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.45, 0.9, n)
    b = rng.uniform(4.0, 16.0, n)
    c = rng.uniform(0.6, 1.8, n)
    fitted = {}
    for f in sorted(set(fwhms) | {REFERENCE_FWHM}):
        wave, y = observe_profile(a, b, c, np.full(n, f))
        fitted[f] = fit_batched(wave, y, np.full(y.shape, 1e6), _CENTER).params
    ref = fitted[REFERENCE_FWHM]
    rows, target = [], []
    for f, p in fitted.items():
        s = f * f - REFERENCE_FWHM ** 2
        F = _features(p[:, 0], p[:, 1], p[:, 2])
        rows.append(np.concatenate([s * F, s * s * F], axis=1))
        target.append(ref[:, :3] - p[:, :3])
    W, *_ = np.linalg.lstsq(np.concatenate(rows), np.concatenate(target), rcond=None)
    return W


def d02_fm_corrected(a, b, c):
    """D0.2 and fm of corrected parameters (`~bhbfinder.balmer.profile.d02_from_params`)."""
    return d02_from_params(a, b, c), 1.0 - np.asarray(a, dtype=float)
