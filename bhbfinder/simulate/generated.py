"""Label-space templates: spectra drawn at sampled (Teff, log g, [Fe/H]) from a fitted generator.

A library of real stars teaches a classifier those stars; a few BHB stars rendered many times
are learned by heart. Here the unit is a point of label space instead: labels are drawn densely
on both sides of the Kiel-box edges of Culpan et al. (2024) and across metallicity, each gets
the class `~bhbfinder.simulate.classify_star` gives it, and its spectrum comes from a
label-conditioned generator fitted to the real stars, such as the params stage's
`~bhbfinder.params.emulator.SlamEmulator` (anything with ``predict_spectra(labels)`` and the
rest-frame vacuum ``meta["wavelength"]`` of its output). The generator predicts continuum-
normalised flux; it is multiplied by a Planck curve at the star's Teff so the simulator's noise
model sees a stellar flux distribution, and the ``prepare`` stage normalises it again.

Labels are drawn only where the generator has support: within ``max_distance`` (in units of its
length scales, when it has them) of a star it was fitted to, so it interpolates rather than
extrapolates. In a held-out evaluation the generator of a fold is fitted without the fold's
stars, like every other model of that fold.
"""

import numpy as np
from astropy.table import Table

from ..errors import ConfigurationError
from .classes import classify_star, culpan_kiel_limits
from .templates import TemplateLibrary, _label_table, _planck

__all__ = ["LABEL_SPACE", "sample_label_space", "GeneratedLibrary", "generated_templates"]

#: The label box drawn from: Teff (K, log-uniform), log g, [Fe/H] (uniform), the share of
#: draws placed near a Kiel-box edge and the spread about it (dex).
LABEL_SPACE = {"teff": (7000.0, 12500.0), "logg": (2.4, 4.7), "feh": (-2.6, 0.4),
               "edge_fraction": 0.5, "edge_sigma": 0.2, "metallicity_edge": -0.9,
               "feh_edge_fraction": 0.25, "feh_edge_sigma": 0.3}


def sample_label_space(n, rng, space=None):
    """Draw ``n`` label triples, dense near the Kiel-box edges and the metallicity boundary.

    Parameters
    ----------
    n : int
    rng : numpy.random.Generator
    space : dict, optional
        Overrides of `LABEL_SPACE`.

    Returns
    -------
    `~astropy.table.Table`
        ``teff``, ``logg``, ``feh``.
    """
    s = dict(LABEL_SPACE, **(space or {}))
    lt = rng.uniform(np.log10(s["teff"][0]), np.log10(s["teff"][1]), n)
    logg = rng.uniform(*s["logg"], n)
    lo, hi = culpan_kiel_limits(lt, log=True)
    near = rng.uniform(size=n) < s["edge_fraction"]
    edge = np.where(rng.uniform(size=n) < 0.5, lo, hi)
    logg = np.where(near, edge + s["edge_sigma"] * rng.standard_normal(n), logg)
    feh = rng.uniform(*s["feh"], n)
    near_f = rng.uniform(size=n) < s["feh_edge_fraction"]
    feh = np.where(near_f, s["metallicity_edge"] + s["feh_edge_sigma"] * rng.standard_normal(n),
                   feh)
    return Table({"teff": 10 ** lt, "logg": np.clip(logg, *s["logg"]),
                  "feh": np.clip(feh, *s["feh"])})


class GeneratedLibrary(TemplateLibrary):
    """Templates computed on demand by a generator at their labels (``flux`` is ``None``)."""

    def template_flux(self, index):
        index = np.asarray(index, dtype=np.int64)
        lab = self.labels
        labels = np.column_stack([np.asarray(lab[c], float)[index] for c in ("teff", "logg",
                                                                              "feh")])
        norm = np.asarray(self.meta["generator"].predict_spectra(labels), float)
        cont = _planck(self.wavelength[None, :], labels[:, :1])
        cont = cont / np.median(cont, axis=1, keepdims=True)
        return (np.clip(norm, 0.0, None) * cont).astype(np.float32)

    def select(self, rows):
        rows = np.arange(len(self))[rows] if np.asarray(rows).dtype == bool else \
            np.asarray(rows, dtype=np.int64)
        return GeneratedLibrary(self.wavelength, None, self.labels[rows], fwhm=self.fwhm,
                                meta=dict(self.meta))


def _support_distance(generator, labels):
    """Distance of each label row to the nearest training star, in the generator's
    standardised length-scale units (infinite when the generator does not expose them)."""
    train = getattr(generator, "train_labels_", None)
    scale = getattr(generator, "length_scale_", None)
    to_z = getattr(generator, "_to_z", None)
    if train is None or scale is None or to_z is None:
        return np.zeros(len(labels))
    z = to_z(labels) / scale
    zt = to_z(np.asarray(train, float)) / scale
    d2 = ((z[:, None, :] - zt[None, :, :]) ** 2).sum(axis=2)
    return np.sqrt(d2.min(axis=1))


def generated_templates(generator, n_per_class, seed=0, space=None, max_distance=1.0,
                        fwhm=2.5, source="generated", max_draws=200_000):
    """A `GeneratedLibrary` of ``n_per_class`` label-space stars per class.

    Parameters
    ----------
    generator : object
        ``predict_spectra(labels)`` → normalised flux on ``meta["wavelength"]`` (rest frame,
        vacuum Å); e.g. a fitted `~bhbfinder.params.emulator.SlamEmulator`.
    n_per_class : dict
        Class → number of stars (classes from `~bhbfinder.simulate.classify_star`).
    seed : int
    space : dict, optional
        `LABEL_SPACE` overrides.
    max_distance : float
        Keep labels within this distance of a training star of the generator (see the module
        docstring); ``None`` keeps all.
    fwhm : float
        Resolution of the generated spectra (Å; the MILES stars the params emulator learns
        from have 2.5 Å).
    source : str
        ``source`` label and ``star_id`` prefix.

    Returns
    -------
    GeneratedLibrary
        Every template a distinct star (``star_id`` ``"<source>:<seed>:<k>"``).

    Raises
    ------
    ConfigurationError
        When the label space does not hold enough supported stars of a requested class.
    """
    wave = (getattr(generator, "meta", None) or {}).get("wavelength")
    if wave is None:
        raise ConfigurationError("generated_templates: the generator has no "
                                 "meta['wavelength'] (the rest-frame grid of its spectra)")
    rng = np.random.default_rng(seed)
    want = {c: int(v) for c, v in n_per_class.items() if int(v) > 0}
    got = {c: [] for c in want}
    drawn = 0
    while any(len(got[c]) < want[c] for c in want):
        if drawn >= max_draws:
            short = {c: f"{len(got[c])}/{want[c]}" for c in want}
            raise ConfigurationError(f"generated_templates: label space yields too few "
                                     f"supported stars per class ({short}); widen `space` or "
                                     "`max_distance`")
        batch = sample_label_space(4096, rng, space)
        drawn += len(batch)
        labels = np.column_stack([np.asarray(batch[c], float) for c in ("teff", "logg", "feh")])
        if max_distance is not None:
            keep = _support_distance(generator, labels) <= max_distance
            batch, labels = batch[keep], labels[keep]
        classes = [classify_star(t, g, f) for t, g, f in labels]
        for row, cls in zip(labels, classes, strict=True):
            if cls in got and len(got[cls]) < want[cls]:
                got[cls].append(row)
    rows = []
    for cls in want:
        for k, (t, g, f) in enumerate(got[cls]):
            rows.append({"name": f"{source} {cls} {k}",
                         "star_id": f"{source}:{seed}:{cls}:{k}", "label": cls,
                         "teff": t, "logg": g, "feh": f, "sptype": "", "source": source})
    table = _label_table(rows)
    return GeneratedLibrary(np.asarray(wave, float), None, table, fwhm=fwhm,
                            meta={"generator": generator, "source": source, "seed": seed,
                                  "max_distance": max_distance,
                                  "space": dict(LABEL_SPACE, **(space or {}))})
