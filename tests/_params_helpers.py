"""Toy spectra with a known dependence on (Teff, log g, [Fe/H]) for the params tests."""

import numpy as np

#: Line centres (Å) and which label drives depth / width of each toy line.
_LINES = (4102.9, 4341.7, 4862.7, 3934.8, 4300.0, 4383.5, 4957.6)


def toy_grid(npix=300):
    """A log-linear wavelength grid 3800–5000 Å with ``npix`` pixels."""
    return np.geomspace(3800.0, 5000.0, npix)


def toy_spectra(labels, wave):
    """Normalised absorption spectra: Balmer lines set by Teff and log g, metal lines by [Fe/H]."""
    labels = np.atleast_2d(labels)
    teff, logg, feh = labels[:, 0:1], labels[:, 1:2], labels[:, 2:3]
    t = (teff - 9000.0) / 2000.0
    flux = np.ones((labels.shape[0], wave.size))
    for centre in _LINES[:3]:
        depth = 0.45 + 0.12 * t
        width = 3.0 + 1.5 * (logg - 3.0) + 0.5 * t
        flux -= depth * np.exp(-0.5 * ((wave - centre) / width) ** 2)
    for centre in _LINES[3:]:
        depth = 0.25 * 10 ** (0.5 * feh) * (1.0 - 0.3 * t)
        flux -= depth * np.exp(-0.5 * ((wave - centre) / 2.0) ** 2)
    flux *= 1.0 + 0.05 * t * (wave - 4400.0) / 600.0
    return flux


def toy_labels(n, seed=0):
    """Labels drawn uniformly in a BHB / A-star box."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(7000, 11000, n), rng.uniform(2.5, 4.5, n),
                            rng.uniform(-2.5, 0.0, n)])


def toy_model(n, seed=0, npix=150, **emulator_options):
    """A `~bhbfinder.params.SlamEmulator` fitted to ``n`` toy stars (ivar 1e4) on `toy_grid`."""
    from bhbfinder.params.emulator import SlamEmulator

    wave = toy_grid(npix)
    labels = toy_labels(n, seed=seed)
    flux = toy_spectra(labels, wave)
    return SlamEmulator(**emulator_options).fit(flux, np.full_like(flux, 1e4), labels,
                                                wavelength=wave)
