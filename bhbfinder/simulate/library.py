"""Training libraries: class-balanced simulated LAMOST spectra with labels and provenance.

`build_library` draws spectra for each class from one or several template sources (analytic
stars, MILES, the SDSS stellar templates, or any `TemplateLibrary`), adds non-stellar junk to the
``"other"`` class, and records exactly how it was built. The result, a `TrainingLibrary`, keeps
each spectrum's source star (``star_id``) so that train / validation / test splits can be made by
star, saves to and loads from ASDF (no pickle), and hands the spectra to the ``prepare`` stage as
a `~bhbfinder.batch.RawBatch`::

    library = build_library(n_per_class=100, seed=1)
    raw = library.to_raw_batch()          # then prepare(raw)
"""

import datetime
from dataclasses import dataclass, field

import asdf
import numpy as np
from astropy.table import Table

from .._tree import plain_tree
from .._version import __version__
from ..errors import ConfigurationError, ModelFileError
from .analytic import PARAMETER_BOXES, AnalyticLibrary, analytic_templates
from .classes import CLASSES, culpan_kiel_limits
from .config import (
    JUNK_KINDS,
    LAMOST_LOG10_START,
    LAMOST_LOG10_STEP,
    LAMOST_NPIX,
    SimulationConfig,
)
from .junk import simulate_junk
from .simulated import SimulatedSpectra
from .simulator import simulate_rows
from .templates import TemplateLibrary, load_eigenstars, load_miles

__all__ = ["TrainingLibrary", "build_library", "AUGMENT_PRESETS", "PARAM_JITTER",
           "jitter_parameters", "resolve_source"]

#: Format tag of library files.
LIBRARY_FORMAT = "bhbfinder-training-library"
LIBRARY_FORMAT_VERSION = 1

#: Named augmentation settings: overrides of `~bhbfinder.simulate.SimulationConfig`, and whether
#: analytic stars get label-preserving parameter jitter (`PARAM_JITTER`) per spectrum.
AUGMENT_PRESETS = {
    "none": {"config": {"distortion_sigma": 0.0, "dichroic_step": 0.0, "cosmic_rate": 0.0,
                        "bad_segment_rate": 0.0, "edge_bad_max": 0, "vary_grid": False},
             "param_jitter": False},
    "standard": {"config": {}, "param_jitter": False},
    "heavy": {"config": {"rv": (-500.0, 500.0), "snr": (5.0, 200.0), "distortion_order": 5,
                         "distortion_sigma": 0.2, "dichroic_step": 0.05,
                         "resolution_jitter": 0.1, "z_missing_fraction": 0.05,
                         "bad_segment_rate": 1.0, "cosmic_rate": 2.0},
              "param_jitter": True},
}

#: Standard deviations of the label-preserving parameter jitter of analytic stars
#: (Teff as a fraction; log g and [Fe/H] in dex; vsini in km/s).
PARAM_JITTER = {"teff": 0.02, "logg": 0.05, "feh": 0.1, "vsini": 5.0}


def jitter_parameters(labels, rng, scales=None, boxes=None):
    """Perturb analytic-star parameters without leaving their class's box.

    Parameters
    ----------
    labels : `~astropy.table.Table`
        Rows of an `AnalyticLibrary` (``label``, ``teff``, ``logg``, ``feh``, ``vsini``).
    rng : numpy.random.Generator
    scales : dict, optional
        `PARAM_JITTER` overrides.
    boxes : dict, optional
        `~bhbfinder.simulate.analytic.PARAMETER_BOXES` overrides.

    Returns
    -------
    `~astropy.table.Table`
        A copy with jittered ``teff``, ``logg``, ``feh``, ``vsini``; ``star_id`` unchanged.
    """
    scales = {**PARAM_JITTER, **(scales or {})}
    boxes = {**PARAMETER_BOXES, **(boxes or {})}
    out = labels.copy()
    n = len(out)
    lab = np.asarray(out["label"]).astype(str)
    teff = np.asarray(out["teff"], float) * (1 + scales["teff"] * rng.standard_normal(n))
    logg = np.asarray(out["logg"], float) + scales["logg"] * rng.standard_normal(n)
    feh = np.asarray(out["feh"], float) + scales["feh"] * rng.standard_normal(n)
    vsini = np.asarray(out["vsini"], float) + scales["vsini"] * rng.standard_normal(n)
    for c in set(lab):
        m = lab == c
        box = boxes[c]
        # evolved stars of the class (in the BHB box, metal-rich) stay in the box and metal-rich
        evolved = np.zeros(n, bool)
        if "evolved_fraction" in box:
            t0 = np.asarray(out["teff"], float)
            evolved = m & (np.asarray(out["logg"], float) < culpan_kiel_limits(t0)[1])
        for part, is_evolved in ((m & ~evolved, False), (m & evolved, True)):
            if not part.any():
                continue
            teff[part] = np.clip(teff[part], *box["evolved_teff" if is_evolved else "teff"])
            lt = np.log10(teff[part])
            if box["logg"] == "culpan" or is_evolved:
                lo, hi = culpan_kiel_limits(lt, log=True)
                logg[part] = np.clip(logg[part], lo + 0.02 * (hi - lo), hi - 0.02 * (hi - lo))
            else:
                logg[part] = np.clip(logg[part], *box["logg"])
                if c == "A":
                    logg[part] = np.maximum(logg[part], culpan_kiel_limits(lt, log=True)[1] + 0.1)
            fspec = box["evolved_feh"] if is_evolved else box["feh"]
            lo_f, hi_f = fspec[2], fspec[3]
            if "halo_feh" in box and not is_evolved:
                lo_f, hi_f = min(lo_f, box["halo_feh"][2]), max(hi_f, box["halo_feh"][3])
            feh[part] = np.clip(feh[part], lo_f, hi_f)
            vsini[part] = np.clip(vsini[part], *box["evolved_vsini" if is_evolved else "vsini"])
    out["teff"], out["logg"], out["feh"], out["vsini"] = teff, logg, feh, vsini
    return out


def resolve_source(source, seed=0, n_analytic=None, classes=CLASSES):
    """Turn a source description into a `TemplateLibrary`.

    ``source`` is a `TemplateLibrary`; ``"analytic"``; ``"miles:FOLDER"`` (optionally
    ``"miles:FOLDER:LABELS"``); or ``"eigenstar:FILE"``.
    """
    if isinstance(source, TemplateLibrary):
        return source, {"kind": source.source or "library", "n_templates": len(source)}
    if not isinstance(source, str):
        raise ConfigurationError(f"unknown template source {source!r}: give a TemplateLibrary, "
                                 "'analytic', 'miles:FOLDER' or 'eigenstar:FILE'")
    kind, _, arg = source.partition(":")
    if kind == "analytic":
        n = n_analytic if n_analytic is not None else 50
        lib = analytic_templates(n, seed=seed, classes=classes)
        return lib, {"kind": "analytic", "stars_per_class": n, "seed": seed}
    if kind == "miles":
        folder, _, labels = arg.partition(":")
        lib = load_miles(folder, labels=labels or "miles_hot_labels.csv")
        return lib, {"kind": "miles", "folder": folder,
                     "labels": labels or "miles_hot_labels.csv"}
    if kind in ("eigenstar", "eigenstars"):
        lib = load_eigenstars(arg)
        return lib, {"kind": "eigenstar", "file": arg}
    raise ConfigurationError(f"unknown template source {source!r}: use 'analytic', "
                             "'miles:FOLDER[:LABELS]' or 'eigenstar:FILE'")


@dataclass
class TrainingLibrary(SimulatedSpectra):
    """Simulated spectra for training, with labels, source stars and provenance.

    Everything of `~bhbfinder.simulate.SimulatedSpectra` (``flux``, ``ivar``, ``andmask``,
    ``ormask`` on the absolute LAMOST grid; ``meta`` with `~bhbfinder.io.base.META_KEYS` and
    `~bhbfinder.simulate.config.TRUTH_COLUMNS`; ``to_raw_batch()``, ``records()``) plus:

    Attributes
    ----------
    provenance : dict
        How the library was built: sources, seed, counts, the simulation configuration,
        augmentation, package version, date.
    """

    provenance: dict = field(default_factory=dict)

    @property
    def star_ids(self):
        """Source star of each spectrum (the grouping key for splits by star)."""
        return np.asarray(self.meta["star_id"]).astype(str)

    @property
    def params(self):
        """``(n, 3)`` array of Teff, log g, [Fe/H] (NaN where unknown)."""
        return np.column_stack([np.asarray(self.meta[c], float) for c in ("teff", "logg", "feh")])

    def split_by_star(self, fractions=(0.7, 0.15, 0.15), seed=0):
        """Indices of train / validation / test sets with no star in two sets.

        Stars are shuffled within each class and dealt out by ``fractions`` so every class is
        represented in each set where it has enough stars.

        Returns
        -------
        tuple of ndarray
            One index array per fraction.
        """
        fractions = np.asarray(fractions, float)
        if np.any(fractions < 0) or not np.isclose(fractions.sum(), 1.0):
            raise ConfigurationError(f"split_by_star: fractions {tuple(fractions)} must be "
                                     "non-negative and sum to 1")
        rng = np.random.default_rng(seed)
        stars = self.star_ids
        labels = self.labels
        which = np.full(len(self), -1)
        edges = np.cumsum(fractions)
        for c in CLASSES:
            uniq = np.unique(stars[labels == c])
            rng.shuffle(uniq)
            k = len(uniq)
            cut = np.round(edges * k).astype(int)
            part = np.searchsorted(cut, np.arange(k), side="right")
            lookup = dict(zip(uniq, part, strict=False))
            m = labels == c
            which[m] = [lookup[s] for s in stars[m]]
        return tuple(np.flatnonzero(which == i) for i in range(len(fractions)))

    # ------------------------------------------------------------------ ASDF

    def save(self, path, compress=False):
        """Write the library to an ASDF file (no pickle).

        Parameters
        ----------
        path : path-like
        compress : bool
            zlib-compress the arrays (smaller, slower).
        """
        meta = {}
        units = {}
        descriptions = {}
        for name in self.meta.colnames:
            col = self.meta[name]
            meta[name] = np.asarray(col)
            if col.unit is not None:
                units[name] = col.unit.to_string()
            if col.description:
                descriptions[name] = col.description
        tree = {
            "format": LIBRARY_FORMAT, "format_version": LIBRARY_FORMAT_VERSION,
            "flux": np.ascontiguousarray(self.flux, np.float32),
            "ivar": np.ascontiguousarray(self.ivar, np.float32),
            "andmask": np.ascontiguousarray(self.andmask, np.int16),
            "ormask": np.ascontiguousarray(self.ormask, np.int16),
            "meta": meta, "meta_columns": list(self.meta.colnames), "meta_units": units,
            "meta_descriptions": descriptions,
            "provenance": plain_tree(self.provenance, arrays_as_lists=True),
        }
        af = asdf.AsdfFile(tree)
        kwargs = {"all_array_compression": "zlib"} if compress else {}
        af.write_to(str(path), **kwargs)

    @classmethod
    def load(cls, path):
        """Read a library written by `save`.

        Raises
        ------
        ModelFileError
            If the file is not a bhbfinder training library.
        """
        try:
            af = asdf.open(str(path), lazy_load=False, memmap=False)
        except Exception as exc:
            raise ModelFileError(f"{path}: cannot open as ASDF ({exc})") from exc
        with af:
            tree = af.tree
            if tree.get("format") != LIBRARY_FORMAT:
                raise ModelFileError(f"{path}: not a bhbfinder training library (format "
                                     f"{tree.get('format')!r}); build one with build_library")
            if tree.get("format_version", 0) > LIBRARY_FORMAT_VERSION:
                raise ModelFileError(f"{path}: library format version "
                                     f"{tree['format_version']} is newer than this bhbfinder "
                                     "reads; upgrade bhbfinder")
            order = tree.get("meta_columns") or list(tree["meta"])
            meta = Table({k: np.asarray(tree["meta"][k]) for k in order})
            for k, u in tree.get("meta_units", {}).items():
                meta[k].unit = u
            for k, d in tree.get("meta_descriptions", {}).items():
                meta[k].description = d
            return cls(np.asarray(tree["flux"]), np.asarray(tree["ivar"]),
                       np.asarray(tree["andmask"]), np.asarray(tree["ormask"]), meta,
                       provenance=plain_tree(tree["provenance"], arrays_as_lists=True))


def _even_rows(n_templates, n, rng):
    """``n`` template rows using every template as evenly as possible, in random order."""
    reps = -(-n // n_templates)
    base = np.concatenate([rng.permutation(n_templates) for _ in range(reps)])[:n]
    return rng.permutation(base)


def build_library(sources=("analytic",), n_per_class=200, snr=(5.0, 200.0), seed=0,
                  classes=CLASSES, augment="standard", junk_fraction=0.3,
                  analytic_stars_per_class=None, config=None, shuffle=True, **options):
    """Build a class-balanced `TrainingLibrary` of simulated LAMOST spectra.

    For every class, the ``n_per_class`` spectra are shared equally between the sources that
    have templates of that class, and within a source spread evenly over its templates (stars).
    A fraction ``junk_fraction`` of the ``"other"`` spectra are non-stellar junk (galaxies,
    quasars, noise; `~bhbfinder.simulate.simulate_junk`).

    Parameters
    ----------
    sources : sequence
        Template sources: `TemplateLibrary` objects, ``"analytic"``,
        ``"miles:FOLDER[:LABELS]"``, ``"eigenstar:FILE"`` (see `resolve_source`).
    n_per_class : int or dict
        Spectra per class (a dict maps class → number).
    snr : float or (float, float)
        g-band S/N (a range is drawn log-uniformly).
    seed : int
        Everything random derives from ``numpy.random.default_rng(seed)``.
    classes : sequence of str
        Classes to include (default all of `~bhbfinder.simulate.CLASSES`).
    augment : str
        One of `AUGMENT_PRESETS` (``"none"``, ``"standard"``, ``"heavy"``).
    junk_fraction : float
        Fraction of the ``"other"`` class that is non-stellar.
    analytic_stars_per_class : int, optional
        Distinct analytic stars per class (default: one per analytic spectrum).
    config : SimulationConfig, optional
        Base configuration (the preset and ``options`` are applied on top).
    shuffle : bool
        Shuffle the rows (else grouped by class and source).
    **options
        Further `~bhbfinder.simulate.SimulationConfig` overrides.

    Returns
    -------
    TrainingLibrary
    """
    if augment not in AUGMENT_PRESETS:
        raise ConfigurationError(f"augment={augment!r}: use one of {sorted(AUGMENT_PRESETS)}")
    bad = sorted(set(classes) - set(CLASSES))
    if bad:
        raise ConfigurationError(f"build_library: unknown classes {bad}; use {CLASSES}")
    preset = AUGMENT_PRESETS[augment]
    config = (config or SimulationConfig()).replace(**{**preset["config"], "snr": snr,
                                                       **options})
    rng = np.random.default_rng(seed)
    counts = {c: (n_per_class.get(c, 0) if isinstance(n_per_class, dict) else int(n_per_class))
              for c in classes}

    libs, described = [], []
    for src in sources:
        if isinstance(src, str) and src.partition(":")[0] == "analytic":
            n_stars = analytic_stars_per_class or max(counts.values(), default=0)
            lib, desc = resolve_source(src, seed=int(rng.integers(2**31)), n_analytic=n_stars,
                                       classes=tuple(c for c in classes if counts[c]))
        else:
            lib, desc = resolve_source(src)
        desc["class_counts"] = lib.class_counts()
        libs.append(lib)
        described.append(desc)

    parts = []
    made = {c: 0 for c in classes}
    for c in classes:
        n_c = counts[c]
        if c == "other" and n_c:
            n_junk = int(round(n_c * junk_fraction))
            if n_junk:
                parts.append(simulate_junk(rng.choice(JUNK_KINDS, n_junk), rng, config))
                made[c] += n_junk
            n_c -= n_junk
        having = [i for i, lib in enumerate(libs) if lib.class_counts().get(c, 0)]
        if n_c and not having:
            raise ConfigurationError(f"build_library: no source has templates of class {c!r}; "
                                     "add the 'analytic' source or drop the class")
        share = np.full(len(having), n_c // max(len(having), 1))
        share[:n_c - share.sum()] += 1
        for i, k in zip(having, share, strict=False):
            if not k:
                continue
            lib = libs[i]
            idx = np.flatnonzero(np.asarray(lib.labels["label"]).astype(str) == c)
            rows = idx[_even_rows(idx.size, int(k), rng)]
            if isinstance(lib, AnalyticLibrary) and preset["param_jitter"]:
                jl = AnalyticLibrary(lib.wavelength, None,
                                     jitter_parameters(lib.labels[rows], rng), meta=lib.meta)
                parts.append(simulate_rows(jl, np.arange(rows.size), rng, config))
            else:
                parts.append(simulate_rows(lib, rows, rng, config))
            made[c] += int(k)
    sim = SimulatedSpectra.concatenate(parts)
    if shuffle:
        sim = sim.select(rng.permutation(len(sim)))
    labels = np.asarray(sim.meta["label"]).astype(str)
    stars = np.asarray(sim.meta["star_id"]).astype(str)
    provenance = {
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "bhbfinder_version": __version__,
        "builder": "bhbfinder.simulate.build_library",
        "seed": int(seed),
        "classes": list(classes),
        "n_per_class": {c: int(v) for c, v in counts.items()},
        "counts": {c: int((labels == c).sum()) for c in classes},
        "n_stars": {c: int(np.unique(stars[labels == c]).size) for c in classes},
        "sources": described,
        "augment": augment,
        "param_jitter": dict(PARAM_JITTER) if preset["param_jitter"] else None,
        "junk_fraction": float(junk_fraction),
        "analytic_stars_per_class": analytic_stars_per_class,
        "config": config.to_dict(),
        "grid": {"log10_start": LAMOST_LOG10_START, "log10_step": LAMOST_LOG10_STEP,
                 "npix": LAMOST_NPIX, "wavelength": "vacuum, observed frame"},
        "shuffle": bool(shuffle),
    }
    return TrainingLibrary(sim.flux, sim.ivar, sim.andmask, sim.ormask, sim.meta,
                           provenance=provenance)
