"""The Sérsic-type Balmer profile and the D0.2 / fm line measures.

The profile (Clewley et al. 2002, MNRAS 337, 87; Sirko et al. 2004, AJ 127, 899; Xue et al. 2008,
ApJ 684, 1143), in continuum-normalised flux::

    y(λ) = 1 − a · exp[−(|λ − λ0| / b)^c]

with depth ``a``, scale width ``b`` (Å), shape ``c`` and centre ``λ0`` (Å). D0.2 is the full width
of the line where the normalised flux is 0.8 (20 % below the continuum) and fm the minimum
normalised flux in the core (Pier 1983, ApJS 53, 791; Sirko et al. 2004). On the profile both are
analytic: ``D0.2 = 2 b [ln(a / 0.2)]^(1/c)`` for ``a > 0.2`` and ``fm = 1 − a``.

All functions broadcast: parameters of shape ``(n,)`` against a wavelength array of shape
``(m,)`` or ``(n, m)`` give ``(n, m)`` results.
"""

import numpy as np

__all__ = ["D02_LEVEL", "CORE_SOFTENING", "sersic_profile", "sersic_jacobian", "sersic_gradient",
           "d02_from_params", "fm_from_params", "measure_d02_fm"]

#: The depth below the continuum at which D0.2 is measured (normalised flux 0.8).
D02_LEVEL = 0.2

#: Core softening (Å) used in fits: ``|λ − λ0|`` is replaced by ``sqrt((λ − λ0)² + ε²)``. The bare
#: profile has a cusp at λ0 (infinite slope for c < 1), which makes χ² non-differentiable in λ0
#: wherever a pixel sits on the centre: fits then lock λ0 onto a pixel and stall. Softening
#: within ε = 0.02 Å (1/50 of a LAMOST pixel) makes χ² smooth; it changes the profile by less
#: than 1e-3 beyond 0.3 Å of the centre, and the core by at most a·(ε/b)^c.
CORE_SOFTENING = 0.02


def _col(p):
    p = np.asarray(p, dtype=float)
    return p[..., None] if p.ndim else p


def sersic_profile(wave, a, b, c, lam0, eps=0.0):
    """The normalised Sérsic-type profile ``1 − a exp[−(|λ − λ0|/b)^c]``.

    Parameters
    ----------
    wave : array-like
        Wavelength, Å, shape ``(m,)`` or ``(n, m)``.
    a, b, c, lam0 : float or array-like of shape ``(n,)``
        Depth, scale width (Å), shape and centre (Å).
    eps : float
        Core softening, Å (0: the exact profile; fits use `CORE_SOFTENING`).

    Returns
    -------
    ndarray
        Normalised flux, shape ``(m,)`` for scalar parameters, else ``(n, m)``.

    Examples
    --------
    >>> float(sersic_profile(4102.9, 0.7, 8.0, 1.0, 4102.9))   # core: 1 - a
    0.30000000000000004
    """
    a, b, c, lam0 = (_col(p) for p in (a, b, c, lam0))
    x = np.asarray(wave, dtype=float) - lam0
    u = (np.sqrt(x * x + eps * eps) if eps else np.abs(x)) / b
    with np.errstate(divide="ignore"):
        uc = np.exp(c * np.log(u))  # u**c, twice as fast as np.power
    return 1.0 - a * np.exp(-uc)


def sersic_gradient(wave, a, b, c, lam0, eps=CORE_SOFTENING):
    """Profile (softened by ``eps``, Å) and its partial derivatives with respect to
    ``(a, b, c, λ0)``, parameter-major: each derivative a contiguous ``(n, m)`` block, the
    layout the batched fit's normal equations read fastest.

    Returns
    -------
    model : ndarray, shape ``(n, m)``
    grad : ndarray, shape ``(n, 4, m)``
        ``∂y/∂a, ∂y/∂b, ∂y/∂c, ∂y/∂λ0``.
    """
    a, b, c, lam0 = (_col(np.atleast_1d(p)) for p in (a, b, c, lam0))
    x = np.asarray(wave, dtype=float) - lam0
    r2 = x * x + eps * eps
    r2 = np.maximum(r2, 1e-300)
    logu = 0.5 * np.log(r2) - np.log(b)
    uc = np.exp(c * logu)  # u**c, sharing log u with ∂y/∂c
    g = np.exp(-uc)
    model = 1.0 - a * g
    agu = a * g * uc
    grad = np.empty((model.shape[0], 4, model.shape[-1]))
    np.negative(g, out=grad[:, 0])
    np.multiply(agu, -c / b, out=grad[:, 1])
    np.multiply(agu, logu, out=grad[:, 2])
    # ∂u/∂λ0 = −x / (r b), so ∂y/∂λ0 = −a g c u^c x / r²
    np.multiply(agu, -c * x / r2, out=grad[:, 3])
    return model, grad


def sersic_jacobian(wave, a, b, c, lam0, eps=CORE_SOFTENING):
    """Profile (softened by ``eps``, Å) and its partial derivatives with respect to
    ``(a, b, c, λ0)``, pixel-major (`sersic_gradient` transposed).

    Returns
    -------
    model : ndarray, shape ``(n, m)``
    jac : ndarray, shape ``(n, m, 4)``
        ``∂y/∂a, ∂y/∂b, ∂y/∂c, ∂y/∂λ0``.
    """
    model, grad = sersic_gradient(wave, a, b, c, lam0, eps)
    return model, grad.transpose(0, 2, 1)


def d02_from_params(a, b, c, level=D02_LEVEL):
    """D0.2 of the fitted profile: ``2 b [ln(a / 0.2)]^(1/c)`` (Å), NaN where ``a ≤ 0.2``.

    Examples
    --------
    >>> round(float(d02_from_params(0.7, 8.0, 1.0)), 4)   # 2 * 8 * ln(3.5)
    20.0439
    """
    a, b, c = (np.asarray(p, dtype=float) for p in (a, b, c))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 2.0 * b * np.log(a / level) ** (1.0 / c)
    return np.where(a > level, out, np.nan)


def fm_from_params(a):
    """fm of the fitted profile: the core flux ``1 − a``."""
    return 1.0 - np.asarray(a, dtype=float)


def measure_d02_fm(wave, flux, good, lam0, level=D02_LEVEL):
    """D0.2 and fm measured on the data, by linear interpolation of the normalised flux.

    fm is the normalised flux interpolated at ``lam0`` (the fitted centre, or the line centre).
    D0.2 is the distance between the first crossings of ``1 − level`` met walking outwards from
    ``lam0`` on either side, each located by linear interpolation between the two pixels that
    bracket it. Masked pixels are skipped. NaN where the crossing is not found in the window
    (line shallower than ``level`` or wider than the window).

    Parameters
    ----------
    wave : ndarray, shape (m,)
        Wavelength of the window pixels, Å (increasing).
    flux : ndarray, shape (n, m)
        Normalised flux (divided by the local continuum).
    good : ndarray of bool, shape (n, m)
        True for usable pixels.
    lam0 : ndarray, shape (n,)
        Core position, Å.

    Returns
    -------
    d02, fm : ndarray, shape (n,)
    """
    wave = np.asarray(wave, dtype=float)
    flux = np.asarray(flux, dtype=float)
    n, m = flux.shape
    lam0 = np.broadcast_to(np.asarray(lam0, dtype=float), (n,))
    idx = np.arange(m)
    rows = np.arange(n)
    thresh = 1.0 - level
    # compact each row's good pixels to the front so neighbours in the compacted row are the
    # nearest good pixels (masked pixels are skipped, not interpolated through)
    order = np.argsort(~good, axis=1, kind="stable")
    ngood = good.sum(axis=1)
    w = wave[order]
    f = np.take_along_axis(flux, order, axis=1)
    valid = idx[None, :] < ngood[:, None]
    w = np.where(valid, w, np.inf)
    f = np.where(valid, f, np.nan)

    # the good pixel just redward of lam0
    right = np.minimum(np.sum(w < lam0[:, None], axis=1), np.maximum(ngood - 1, 0))
    left = np.maximum(right - 1, 0)
    wl, wr = w[rows, left], w[rows, right]
    fl, fr = f[rows, left], f[rows, right]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(wr > wl, (lam0 - wl) / (wr - wl), 0.0)
    fm = np.where(ngood >= 2, fl + np.clip(t, 0, 1) * (fr - fl), np.nan)

    above = (f >= thresh) & valid
    # blue crossing: last pixel at/above threshold left of the core, and the one after it
    blue_mask = above & (idx[None, :] <= left[:, None])
    jb = np.where(blue_mask, idx[None, :], -1).max(axis=1)
    # red crossing: first pixel at/above threshold right of the core, and the one before it
    red_mask = above & (idx[None, :] >= right[:, None])
    jr = np.where(red_mask, idx[None, :], m).min(axis=1)
    ok = (jb >= 0) & (jr < ngood) & (jb < jr)
    jb_c, jr_c = np.clip(jb, 0, m - 2), np.clip(jr, 1, m - 1)

    def cross(i0, i1):
        w0, w1 = w[rows, i0], w[rows, i1]
        f0, f1 = f[rows, i0], f[rows, i1]
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.where(f1 != f0, (thresh - f0) / (f1 - f0), 0.5)
            # NaN wavelengths (padding) give NaN here; such rows are dropped by ``ok`` below
            return w0 + np.clip(s, 0, 1) * (w1 - w0)

    blue = cross(jb_c, jb_c + 1)
    red = cross(jr_c - 1, jr_c)
    d02 = np.where(ok, red - blue, np.nan)
    # the core itself must lie below the threshold for D0.2 to mean anything
    d02 = np.where(fm < thresh, d02, np.nan)
    return d02, fm
