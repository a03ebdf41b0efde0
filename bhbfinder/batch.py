"""The containers that flow between batch stages.

`RawBatch`
    what the readers produce for a chunk of files: each spectrum on its own native grid, padded
    to a common length, plus a meta table with one row per input (failed files included, with
    their reason in ``status``).
`PreparedBatch`
    what the ``prepare`` stage produces: every spectrum in the rest frame on one shared model
    grid, normalised, as ``(n, npix)`` arrays, plus the same meta table.

Both are plain arrays + an astropy `~astropy.table.Table`, so they pickle cheaply across processes
and Dask workers (a `specutils.Spectrum` built from a wavelength array does not).
"""

from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.nddata import InverseVariance
from astropy.table import MaskedColumn, Table

from .io.base import META_SCHEMA, STATUS_OK, SpectrumArrays
from .spectra.prepare import PreparedArrays

__all__ = ["STATUS_OK", "RawBatch", "PreparedBatch", "meta_table", "REPLACES_KEY"]

#: Key of a prepared meta table's ``meta`` listing the columns of the raw meta the preparation
#: computed anew (e.g. ``teff_phot`` from a colour, `bhbfinder.stages.prepare.PrepareStage`):
#: they replace the raw columns in what the later stages and the catalogue see. Other columns
#: the preparation adds join them; the rest are the raw meta's.
REPLACES_KEY = "replaces_columns"



def meta_table(metas, statuses=None):
    """Build the per-spectrum meta table with a fixed schema from a list of meta dicts.

    Every key of `~bhbfinder.io.base.META_SCHEMA` becomes a column of its type; missing
    values (``None``) are masked entries, so tables from different chunks always stack. A
    reader's other keys with scalar values are kept too (that is how a plugin's metadata
    reaches the catalogue): one column per key found in any row, masked where a row lacks it,
    of the type its values share (bool, int64, float64, else str).

    Parameters
    ----------
    metas : list of dict
    statuses : list of str, optional
        The ``status`` column (default all ``"ok"``).
    """
    n = len(metas)
    cols = {}
    for key, kind in META_SCHEMA.items():
        cols[key] = _meta_column(key, [m.get(key) for m in metas], kind.__name__)
    extra = dict.fromkeys(k for m in metas for k in m if k not in cols and k != "status")
    for key in extra:
        values = [m.get(key) for m in metas]
        if any(np.ndim(v) or isinstance(v, dict) for v in values if v is not None):
            continue  # one column per key holds scalars: arrays and mappings stay out
        cols[str(key)] = _meta_column(str(key), values, _kind(values))
        cols[str(key)].info.description = f"{key!r} from the reader's meta"
    table = Table(cols)
    status = [STATUS_OK] * n if statuses is None else [str(s) for s in statuses]
    table["status"] = np.array(status, dtype=object).astype(str) if n else np.array([], "U2")
    return table


def _kind(values):
    """The column type a reader's extra key gets: what all its present values are."""
    present = [v.item() if isinstance(v, np.generic) else v for v in values if v is not None]
    if not present or any(isinstance(v, str) for v in present):
        return "str"
    if all(isinstance(v, bool) for v in present):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "float"
    return "str"


def _meta_column(key, values, kind):
    n = len(values)
    missing = np.array([v is None for v in values], dtype=bool)
    if kind == "bool":
        data = np.array([False if v is None else bool(v) for v in values], dtype=bool)
    elif kind == "int":
        data = np.array([-1 if v is None else int(v) for v in values], dtype=np.int64)
    elif kind == "float":
        data = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    else:
        data = np.array(["" if v is None else str(v) for v in values], dtype=str)
        if data.dtype.itemsize == 0 or n == 0:
            data = data.astype("U1")
    return MaskedColumn(data, mask=missing, name=key)


@dataclass
class RawBatch:
    """Spectra on their native grids, padded to the longest (``(n, m)`` arrays).

    Attributes
    ----------
    wavelength : ndarray, float64
        Vacuum Å; NaN beyond each spectrum's ``npix``.
    flux, ivar : ndarray, float32
        ``ivar = 0`` on padding and bad pixels.
    mask : ndarray of bool
        True where a pixel is bad or padding.
    npix : ndarray of int
        Valid pixels per spectrum (0 for files that failed).
    meta : `~astropy.table.Table`
        One row per input, ``status`` = ``"ok"`` or the failure reason.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    npix: np.ndarray
    meta: Table

    def __len__(self):
        return len(self.meta)

    @property
    def ok(self):
        """Boolean array: which rows hold a spectrum that was read."""
        return np.asarray(self.meta["status"]) == STATUS_OK

    @classmethod
    def from_records(cls, records, metas=None, statuses=None):
        """Stack `~bhbfinder.io.base.SpectrumArrays` (``None`` for failures) into a batch.

        Parameters
        ----------
        records : list of SpectrumArrays or None
        metas : list of dict, optional
            Meta for each row (default: each record's own; failures need one, with ``file``).
        statuses : list of str, optional
            ``"ok"`` or the failure reason per row.
        """
        n = len(records)
        if metas is None:
            metas = [r.meta if r is not None else {} for r in records]
        m = max([len(r.wavelength) for r in records if r is not None], default=1)
        wave = np.full((n, m), np.nan)
        flux = np.zeros((n, m), np.float32)
        ivar = np.zeros((n, m), np.float32)
        mask = np.ones((n, m), bool)
        npix = np.zeros(n, np.int64)
        for i, r in enumerate(records):
            if r is None:
                continue
            k = len(r.wavelength)
            wave[i, :k] = r.wavelength
            flux[i, :k] = r.flux
            ivar[i, :k] = r.ivar
            mask[i, :k] = r.mask
            npix[i] = k
        return cls(wave, flux, ivar, mask, npix, meta_table(metas, statuses))

    def spectrum(self, i):
        """Row ``i`` as a `specutils.Spectrum` on its native grid."""
        k = int(self.npix[i])
        if k == 0:
            raise ValueError(f"row {i} ({self.meta['file'][i]}) has no spectrum: "
                             f"{self.meta['status'][i]}")
        meta = {key: _plain(self.meta[key][i]) for key in self.meta.colnames}
        return SpectrumArrays(self.wavelength[i, :k], self.flux[i, :k], self.ivar[i, :k],
                              self.mask[i, :k], meta).to_spectrum()


class PreparedBatch(PreparedArrays):
    """What the ``prepare`` stage produces: `~bhbfinder.spectra.prepare.PreparedArrays` (the
    spectra in the rest frame on one shared model grid, normalised, and their meta table) that
    the pipeline can split by rows and hand to users as a `specutils.Spectrum`.

    A stage that recomputes columns the raw meta already has names them in
    ``meta.meta[REPLACES_KEY]`` (`REPLACES_KEY`), so that the pipeline's table takes them.
    """

    def take(self, rows):
        """A new batch holding only ``rows`` (indices or a boolean mask), in that order."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, int)
        extra = {k: v[rows] if isinstance(v, np.ndarray) and v.shape[:1] == (len(self),) else v
                 for k, v in self.extra.items()}
        return PreparedBatch(self.wavelength, self.flux[rows], self.ivar[rows],
                             self.mask[rows], self.meta[rows], self.config, extra)

    def to_spectrum(self):
        """The batch as one `specutils.Spectrum` of shape ``(n, npix)``."""
        from specutils import Spectrum  # seconds to import: only when asked for

        return Spectrum(
            flux=self.flux * u.dimensionless_unscaled,
            spectral_axis=self.wavelength * u.AA,
            uncertainty=InverseVariance(self.ivar),
            mask=self.mask,
            meta={"table": self.meta, "config": self.config},
        )


def _plain(value):
    if np.ma.is_masked(value):
        return None
    return value.item() if hasattr(value, "item") else value
