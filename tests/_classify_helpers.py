"""Toy spectra for the classifier tests: Balmer-like absorption lines of class-dependent shape."""

import numpy as np

from bhbfinder.classify.classifier import CLASSES

# centre (Å) of the lines drawn; widths / depths per class: (sigma Å, depth, extra lines)
_BALMER = (3890.15, 3971.19, 4102.90, 4341.69, 4862.69)
_SHAPES = {
    "BHB": (4.0, 0.60, ()),
    "A": (8.0, 0.50, ()),
    "B": (5.0, 0.25, (4472.7,)),
    "HotSD": (10.0, 0.25, (4687.0,)),
    "WD": (25.0, 0.55, ()),
    "other": (2.0, 0.15, (3934.8, 3969.6, 4227.9, 4305.0, 4384.0)),
}


def toy_spectra(n_per_class=100, npix=300, visits=2, seed=0, snr=40.0):
    """(wavelength, flux, ivar, labels, star_ids) of toy continuum-normalised spectra."""
    rng = np.random.default_rng(seed)
    wave = np.geomspace(3800.0, 5000.0, npix)
    fluxes, labels, stars = [], [], []
    star = 0
    for cls in CLASSES:
        sigma, depth, extra = _SHAPES[cls]
        for _ in range(n_per_class // visits):
            s = sigma * rng.uniform(0.85, 1.15)
            d = depth * rng.uniform(0.85, 1.15)
            model = np.ones(npix)
            for c in _BALMER:
                model -= d * np.exp(-0.5 * ((wave - c) / s) ** 2)
            for c in extra:
                model -= 0.3 * np.exp(-0.5 * ((wave - c) / 3.0) ** 2)
            for _ in range(visits):
                fluxes.append(model + rng.normal(0, 1 / snr, npix))
                labels.append(cls)
                stars.append(star)
            star += 1
    flux = np.asarray(fluxes, np.float32)
    ivar = np.full_like(flux, snr**2)
    return wave, flux, ivar, np.asarray(labels), np.asarray(stars)
