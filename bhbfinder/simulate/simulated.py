"""`SimulatedSpectra`: simulated spectra as arrays on the LAMOST grid, with the reader's meta and
the truth (`TRUTH_COLUMNS`)."""

from dataclasses import dataclass

import numpy as np
from astropy.table import Table, vstack

from ..errors import ConfigurationError
from ..io.base import META_KEYS, UNKNOWN_VALUE, SpectrumArrays
from .classes import class_index
from .config import (
    LAMOST_LOG10_START,
    LAMOST_LOG10_STEP,
    LAMOST_NPIX,
    TRUTH_COLUMNS,
    lamost_wavelength,
)

__all__ = ["SimulatedSpectra"]


@dataclass
class SimulatedSpectra:
    """Simulated spectra on the absolute LAMOST pixel grid, with their truth.

    Every row is aligned on the full nominal grid (`lamost_wavelength` with ``start=0``);
    pixels outside ``[start, start + npix)`` are padding (``ivar = 0``, mask True).

    Attributes
    ----------
    flux, ivar : ndarray, shape (n, LAMOST_NPIX), float32
    andmask, ormask : ndarray, shape (n, LAMOST_NPIX), int16
        LAMOST pixel-mask bits (`MASK_BITS`).
    meta : `~astropy.table.Table`
        One row per spectrum: the reader's `~bhbfinder.io.base.META_KEYS` (``z`` is the
        catalogue redshift, noisy, −9999 when missing) plus `TRUTH_COLUMNS` (``label``,
        ``star_id`` of the source star, ``rv`` the true radial velocity in km/s, ...).
    """

    flux: np.ndarray
    ivar: np.ndarray
    andmask: np.ndarray
    ormask: np.ndarray
    meta: Table

    def __len__(self):
        return len(self.meta)

    @property
    def mask(self):
        """Bad pixels: ``ivar == 0`` (includes padding and andmask-flagged pixels)."""
        return self.ivar <= 0

    @property
    def labels(self):
        """Class labels, one per spectrum."""
        return np.asarray(self.meta["label"]).astype(str)

    @property
    def wavelength(self):
        """The full nominal grid, Å (every row's pixels are a slice of it)."""
        return lamost_wavelength()

    def select(self, rows):
        """A subset (boolean mask or indices), same class."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.flux, new.ivar = self.flux[rows], self.ivar[rows]
        new.andmask, new.ormask = self.andmask[rows], self.ormask[rows]
        new.meta = self.meta[rows]
        return new

    def record(self, i):
        """Spectrum ``i`` as `~bhbfinder.io.base.SpectrumArrays` on its own pixels."""
        s, k = int(self.meta["start"][i]), int(self.meta["npix"][i])
        sl = slice(s, s + k)
        meta = _reader_meta({key: _plain(self.meta[key][i]) for key in self.meta.colnames})
        return SpectrumArrays(lamost_wavelength(s, k), self.flux[i, sl].copy(),
                              self.ivar[i, sl].copy(), (self.ivar[i, sl] <= 0), meta)

    def records(self):
        """All spectra as a list of `~bhbfinder.io.base.SpectrumArrays`."""
        return [self.record(i) for i in range(len(self))]

    def to_raw_batch(self, rows=None):
        """The spectra as a `~bhbfinder.batch.RawBatch` (the input of the ``prepare`` stage).

        Parameters
        ----------
        rows : slice, mask or indices, optional
            Only these rows (to feed large libraries in chunks).
        """
        from ..batch import RawBatch, meta_table

        sub = self if rows is None else self.select(np.arange(len(self))[rows])
        n = len(sub)
        start = np.asarray(sub.meta["start"], dtype=np.int64)
        npix = np.asarray(sub.meta["npix"], dtype=np.int64)
        m = int(npix.max()) if n else 1
        cols = np.arange(m)[None, :] + start[:, None]
        inside = np.arange(m)[None, :] < npix[:, None]
        cols = np.where(inside, cols, 0)
        wave = np.where(inside, 10 ** (LAMOST_LOG10_START + LAMOST_LOG10_STEP * cols), np.nan)
        flux = np.where(inside, np.take_along_axis(sub.flux, cols, 1), 0).astype(np.float32)
        ivar = np.where(inside, np.take_along_axis(sub.ivar, cols, 1), 0).astype(np.float32)
        keys = [k for k in META_KEYS if k in sub.meta.colnames]   # older libraries lack some
        metas = [_reader_meta({k: _plain(sub.meta[k][i]) for k in keys}) for i in range(n)]
        table = meta_table(metas)
        for col in TRUTH_COLUMNS:
            table[col] = sub.meta[col]
        return RawBatch(wave, flux, ivar, ivar <= 0, npix, table)

    @classmethod
    def concatenate(cls, parts):
        """Stack several `SimulatedSpectra` (in order)."""
        parts = [p for p in parts if p is not None and len(p)]
        if not parts:
            raise ConfigurationError("nothing to concatenate: no simulated spectra")
        return cls(np.concatenate([p.flux for p in parts]),
                   np.concatenate([p.ivar for p in parts]),
                   np.concatenate([p.andmask for p in parts]),
                   np.concatenate([p.ormask for p in parts]),
                   vstack([p.meta for p in parts], metadata_conflicts="silent"))


def _reader_meta(meta):
    # what the LAMOST reader returns: LAMOST's -9999 "unknown" becomes None
    for key in ("z", "z_err"):
        if meta.get(key) is not None and meta[key] == UNKNOWN_VALUE:
            meta[key] = None
    return meta


def _plain(value):
    if np.ma.is_masked(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _radec(rng, n):
    ra = rng.uniform(0.0, 360.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(-0.5, 1.0, n)))   # LAMOST sees dec > -30
    return ra, dec


def _designation(ra, dec):
    out = []
    for a, d in zip(ra, dec, strict=False):
        h = a / 15.0
        hh, mm = int(h), int((h % 1) * 60)
        ss = ((h * 60) % 1) * 60
        sign = "+" if d >= 0 else "-"
        ad = abs(d)
        dd, dm = int(ad), int((ad % 1) * 60)
        ds = ((ad * 60) % 1) * 60
        out.append(f"LAMOST J{hh:02d}{mm:02d}{ss:05.2f}{sign}{dd:02d}{dm:02d}{ds:04.1f}")
    return out


def _meta(rng, n, labels, kinds, star_ids, templates, sources, teff, logg, feh, rv, z_true,
          z_cat, z_err, snr, r, snr_bands, n_cr, n_masked, start, npix, lamost_class, subclass):
    ra, dec = _radec(rng, n)
    obs0 = int(rng.integers(100_000_000, 900_000_000))
    cols = {
        "file": np.array([""] * n, dtype="U1"),
        "reader": np.array(["simulate"] * n),
        "survey": np.array(["LAMOST"] * n),
        "data_release": np.array(["simulated"] * n),
        "obsid": obs0 + np.arange(n, dtype=np.int64),
        "designation": np.array(_designation(ra, dec) if n else [], dtype="U26"),
        "ra": ra, "dec": dec, "z": z_cat, "z_err": z_err,
        "class": np.array(lamost_class, dtype="U7"),
        "subclass": np.array(subclass, dtype="U16"),
    }
    for b in "ugriz":
        cols[f"snr_{b}"] = snr_bands[b].astype(float)
    cols["mjd"] = rng.integers(55800, 60500, n).astype(np.int64)
    cols["flux_unit"] = np.array([""] * n, dtype="U1")
    for band in "gr":   # no input-catalogue photometry: the templates are not observed stars
        cols[f"mag_{band}"] = np.ma.masked_array(np.full(n, np.nan), mask=np.ones(n, bool))
    cols.update({
        "label": np.array(labels, dtype="U5"), "label_index": class_index(np.asarray(labels)),
        "star_id": np.array(star_ids, dtype=str), "template": np.array(templates, dtype=str),
        "source": np.array(sources, dtype=str), "kind": np.array(kinds, dtype="U6"),
        "teff": np.asarray(teff, float), "logg": np.asarray(logg, float),
        "feh": np.asarray(feh, float), "rv": np.asarray(rv, float),
        "z_true": np.asarray(z_true, float), "snr_target": np.asarray(snr, float),
        "resolving_power": np.asarray(r, float), "n_cosmic": np.asarray(n_cr, np.int64),
        "n_masked": np.asarray(n_masked, np.int64), "start": np.asarray(start, np.int64),
        "npix": np.asarray(npix, np.int64),
    })
    table = Table(cols)
    units = {"ra": "deg", "dec": "deg", "teff": "K", "rv": "km/s"}
    for k, u in units.items():
        table[k].unit = u
    table["rv"].description = "true radial velocity (km/s); z = rv / c"
    table["z"].description = "catalogue redshift: true z plus the catalogue error; -9999 missing"
    table["label"].description = "class label, one of bhbfinder.simulate.CLASSES"
    table["star_id"].description = "source star of the spectrum (split by star on this)"
    return table


def _empty():
    z = np.zeros((0, LAMOST_NPIX))
    rng = np.random.default_rng(0)
    meta = _meta(rng, 0, [], [], [], [], [], [], [], [], [], [], [], [], [], [],
                 {b: np.zeros(0) for b in "ugriz"}, [], [], [], [], [], [])
    return SimulatedSpectra(z.astype(np.float32), z.astype(np.float32), z.astype(np.int16),
                            z.astype(np.int16), meta)
