"""The reader interface every survey reader implements, and the arrays it returns."""

from dataclasses import dataclass, field

import astropy.units as u
import numpy as np
from astropy.nddata import InverseVariance, StdDevUncertainty, VarianceUncertainty

from ..errors import ConfigurationError

__all__ = ["SpectrumArrays", "Reader", "META_SCHEMA", "META_KEYS", "STATUS_OK", "UNKNOWN_VALUE",
           "meta_numbers"]

#: The value LAMOST writes for an unknown quantity (e.g. ``Z`` of an ``Unknown`` object). The
#: LAMOST reader turns it into ``None``; preparation treats such a redshift as missing.
UNKNOWN_VALUE = -9999.0

#: The ``status`` of a spectrum that went through without trouble (anything else is the reason
#: it did not).
STATUS_OK = "ok"

#: The declared schema of a spectrum's meta, from the reader to the catalogue: every reader
#: puts these keys in its meta (``None`` where the file has no such value), and the batch's meta
#: table holds them as columns of these types (``None`` masked). A reader's other keys follow
#: as extra columns (see `bhbfinder.batch.meta_table`).
META_SCHEMA = {
    "file": str, "reader": str, "survey": str, "data_release": str, "obsid": int,
    "designation": str, "ra": float, "dec": float, "z": float, "z_err": float, "class": str,
    "subclass": str, "snr_u": float, "snr_g": float, "snr_r": float, "snr_i": float,
    "snr_z": float, "mjd": int, "flux_unit": str, "mag_g": float, "mag_r": float,
}
#: The keys of `META_SCHEMA`, in order.
META_KEYS = tuple(META_SCHEMA)


def meta_numbers(meta, name, context):
    """A meta column (e.g. one a user's table of files brought) as floats: NaN where masked,
    NaN everywhere without the column.

    Raises
    ------
    ConfigurationError
        If the column does not hold numbers; the message starts with ``context`` (what
        reads it) and names the column.
    """
    if name not in meta.colnames:
        return np.full(len(meta), np.nan)
    col = meta[name]
    try:
        data = np.ma.asarray(getattr(col, "value", col)).astype(float)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"{context}: the column {name!r} must hold numbers, not {col.dtype}; fix it in "
            f"your table of files, or leave it empty (masked) where a star has none") from None
    return np.ma.filled(data, np.nan)


@dataclass
class SpectrumArrays:
    """One spectrum as plain arrays: what the batch path stacks and ships between processes.

    Attributes
    ----------
    wavelength : ndarray
        Vacuum wavelength in Å, strictly increasing (the file's own array, not a nominal grid).
    flux, ivar : ndarray
        Flux and inverse variance (``ivar = 0`` where there is no information).
    mask : ndarray of bool
        True where a pixel is bad (``ivar == 0`` or flagged by the survey).
    meta : dict
        At least the keys in `META_KEYS`.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    meta: dict = field(default_factory=dict)

    def to_spectrum(self):
        """This spectrum as a `specutils.Spectrum` (uncertainty as `InverseVariance`)."""
        from specutils import Spectrum

        unit = u.Unit(self.meta.get("flux_unit") or "")
        return Spectrum(
            flux=np.asarray(self.flux) * unit,
            spectral_axis=np.asarray(self.wavelength) * u.AA,
            uncertainty=InverseVariance(np.asarray(self.ivar) / unit**2),
            mask=np.asarray(self.mask, dtype=bool),
            meta=dict(self.meta),
        )

    @classmethod
    def from_spectrum(cls, spectrum, meta=None):
        """Arrays from a `specutils.Spectrum` (1-D), converting the spectral axis to vacuum Å."""
        wave = spectrum.spectral_axis.to_value(u.AA, equivalencies=u.spectral())
        flux = np.asarray(spectrum.flux.value, dtype=float)
        unc = spectrum.uncertainty
        if unc is None:
            ivar = np.ones_like(flux)
        elif isinstance(unc, InverseVariance):
            ivar = np.asarray(unc.array, dtype=float)
        elif isinstance(unc, VarianceUncertainty):
            with np.errstate(divide="ignore"):
                ivar = np.where(unc.array > 0, 1.0 / unc.array, 0.0)
        elif isinstance(unc, StdDevUncertainty):
            with np.errstate(divide="ignore"):
                ivar = np.where(unc.array > 0, 1.0 / unc.array**2, 0.0)
        else:
            ivar = np.asarray(unc.represent_as(InverseVariance).array, dtype=float)
        ivar = np.where(np.isfinite(ivar) & np.isfinite(flux), ivar, 0.0)
        mask = (np.zeros(flux.shape, bool) if spectrum.mask is None
                else np.asarray(spectrum.mask, bool))
        mask = mask | (ivar <= 0)
        full = {key: None for key in META_KEYS}
        full.update({k: v for k, v in dict(spectrum.meta or {}).items() if k in META_KEYS})
        full["flux_unit"] = spectrum.flux.unit.to_string()
        if meta:
            full.update(meta)
        if wave.size > 1 and wave[0] > wave[-1]:
            wave, flux, ivar, mask = wave[::-1], flux[::-1], ivar[::-1], mask[::-1]
        return cls(wave, flux, ivar, mask, full)


class Reader:
    """Base class of survey readers.

    Subclasses set `name` and implement `read_arrays` (the fast path used for batches) or
    `read_spectrum` (the other is derived). Readers raise
    `~bhbfinder.errors.SpectrumReadError` naming the file and the problem.
    """

    #: Short name shown by ``bhbfinder plugins`` and stored in each spectrum's meta.
    name = "reader"

    def read_arrays(self, path):
        """Read ``path`` into `SpectrumArrays`."""
        if type(self).read_spectrum is Reader.read_spectrum:
            raise NotImplementedError(f"{type(self).__name__} implements no read method")
        arrays = SpectrumArrays.from_spectrum(self.read_spectrum(path))
        arrays.meta["file"] = str(path)
        arrays.meta["reader"] = self.name
        return arrays

    def read_spectrum(self, path):
        """Read ``path`` into a `specutils.Spectrum`."""
        if type(self).read_arrays is Reader.read_arrays:
            raise NotImplementedError(f"{type(self).__name__} implements no read method")
        return self.read_arrays(path).to_spectrum()

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"
