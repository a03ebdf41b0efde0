"""How much of a held-out scatter is the published labels' own error: the three-cornered hat.

A held-out figure such as "robust σ(Teff) = 234 K" is the scatter of *found − published*: the
method's error and the error of the published label added in quadrature. Against labels that
are themselves uncertain by a few per cent, no method can score below their error. With a third
estimate of the same quantity whose errors are independent of both (a temperature from a colour,
say, beside one from the line spectrum and the published one), the three error scatters can be
separated: for independent errors
:math:`\\mathrm{var}(a - b) = \\sigma_a^2 + \\sigma_b^2`, and the same for the other two pairs,
so

.. math::

    \\sigma_a^2 = \\tfrac12\\left[\\mathrm{var}(a - b) + \\mathrm{var}(a - c)
                 - \\mathrm{var}(b - c)\\right]

and likewise for *b* and *c*: the "three-cornered hat" of Gray & Allan (1974), devised for
clocks none of which is perfect. If two of the estimates share an error (both read a composite
spectrum too cool, say), their difference hides it and the third is charged with it, so the
result for the third is an upper bound when the other two are correlated.
"""

import numpy as np

__all__ = ["three_cornered_hat"]


def _scatter(d, robust):
    if robust:
        return (1.4826 * np.median(np.abs(d - np.median(d)))) ** 2
    return np.var(d, ddof=1)


def _hat(values, robust):
    a, b, c = values
    vab, vac, vbc = (_scatter(x - y, robust) for x, y in ((a, b), (a, c), (b, c)))
    return np.array([vab + vac - vbc, vab + vbc - vac, vac + vbc - vab]) / 2.0


def three_cornered_hat(estimates, *, robust=True, n_boot=0, seed=0, levels=(0.68,)):
    """Each of three estimates' own error scatter, from the scatters of their differences.

    Parameters
    ----------
    estimates : dict of str to array-like
        Exactly three estimates of the same quantity for the same objects, in the same order
        (e.g. ``{"published": teff, "spectrum": teff_emulator, "colour": teff_colour}``).
        Objects where any estimate is not finite are left out. Each object should be one
        independent unit (a star, not a rendering of it).
    robust : bool
        Scatter of a difference as 1.4826 × its median absolute deviation (default), so that a
        few gross outliers do not decide it; else the sample variance.
    n_boot : int
        If positive, the objects are resampled with replacement this many times and each
        estimate's σ gets percentile intervals.
    seed : int
        Seed of the resampling.
    levels : sequence of float
        Central interval probabilities.

    Returns
    -------
    dict
        One entry per estimate: ``{"variance": σ², "sigma": σ (NaN where the variance came
        out negative, i.e. the data cannot support independent errors), level: (lo, hi),
        ...}``, plus ``"n"``, the objects used.

    Raises
    ------
    ValueError
        Not three estimates, estimates of different lengths, or fewer than five objects with
        all three values.

    References
    ----------
    Gray, J. E., & Allan, D. W. 1974, Proc. 28th Annual Symposium on Frequency Control, 243.
    """
    names = list(estimates)
    if len(names) != 3:
        raise ValueError(f"three_cornered_hat needs exactly three estimates, got {len(names)} "
                         f"({names})")
    values = [np.asarray(estimates[k], float).ravel() for k in names]
    if len({v.size for v in values}) != 1:
        sizes = ", ".join(f"{k} {v.size}" for k, v in zip(names, values, strict=True))
        raise ValueError(f"three_cornered_hat: the estimates have different lengths ({sizes})")
    good = np.logical_and.reduce([np.isfinite(v) for v in values])
    if good.sum() < 5:
        raise ValueError(f"three_cornered_hat: only {int(good.sum())} objects have all three "
                         "estimates; at least 5 are needed")
    values = np.array([v[good] for v in values])
    variance = _hat(values, robust)
    out = {"n": int(good.sum())}
    boot = None
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        n = values.shape[1]
        boot = np.array([_hat(values[:, rng.integers(0, n, n)], robust) for _ in range(n_boot)])
        boot = np.sqrt(np.clip(boot, 0.0, None))
    for j, name in enumerate(names):
        entry = {"variance": float(variance[j]),
                 "sigma": float(np.sqrt(variance[j])) if variance[j] >= 0 else float("nan")}
        if boot is not None:
            for level in levels:
                lo, hi = np.percentile(boot[:, j], [50 * (1 - level), 50 * (1 + level)])
                entry[level] = (float(lo), float(hi))
        out[name] = entry
    return out
