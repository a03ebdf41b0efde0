"""Small sky-geometry and catalogue-file helpers shared by the cross-match modules.

Positions are handled as unit vectors on the sphere, so nearest-neighbour searches with a
`scipy.spatial.cKDTree` work the same at the poles and across RA = 0/360: two points an angle
θ apart are a chord ``2 sin(θ/2)`` apart.
"""

import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import Table

from ..errors import ConfigurationError

__all__ = [
    "radec_to_unit",
    "unit_to_radec",
    "chord_from_arcsec",
    "arcsec_from_chord",
    "angular_separation_arcsec",
    "catalog_positions",
    "candidate_mask",
    "column_as_float",
    "find_column",
    "to_arcsec",
    "read_table_file",
]

#: Names of the right-ascension / declination columns recognised in user files, lower case,
#: in order of preference (VizieR's computed ``_RAJ2000`` included).
RA_NAMES = ("ra", "raj2000", "_raj2000", "ra_icrs", "radeg", "ra_deg", "ra2000", "alpha")
DEC_NAMES = ("dec", "dej2000", "_dej2000", "decj2000", "de_icrs", "dec_icrs", "dedeg",
             "dec_deg", "dec2000", "delta")


def radec_to_unit(ra, dec):
    """Unit vectors ``(n, 3)`` from RA, Dec in degrees (NaN positions give NaN vectors)."""
    ra = np.radians(np.asarray(ra, dtype=float))
    dec = np.radians(np.asarray(dec, dtype=float))
    cos_dec = np.cos(dec)
    return np.stack([cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)], axis=-1)


def unit_to_radec(xyz):
    """RA in [0, 360) and Dec in degrees from (not necessarily normalised) vectors ``(n, 3)``."""
    xyz = np.asarray(xyz, dtype=float)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    ra = np.degrees(np.arctan2(y, x)) % 360.0
    dec = np.degrees(np.arctan2(z, np.hypot(x, y)))
    return ra, dec


def chord_from_arcsec(radius_arcsec):
    """The chord length between unit vectors ``radius_arcsec`` apart."""
    return 2.0 * np.sin(np.radians(np.asarray(radius_arcsec, dtype=float) / 3600.0) / 2.0)


def arcsec_from_chord(chord):
    """The angle (arcsec) subtended by a chord between unit vectors."""
    chord = np.clip(np.asarray(chord, dtype=float), 0.0, 2.0)
    return np.degrees(2.0 * np.arcsin(chord / 2.0)) * 3600.0


def angular_separation_arcsec(ra1, dec1, ra2, dec2):
    """Great-circle separation in arcsec (stable at small angles, vectorised)."""
    return arcsec_from_chord(np.linalg.norm(radec_to_unit(ra1, dec1) - radec_to_unit(ra2, dec2),
                                            axis=-1))


def to_arcsec(value, name="radius"):
    """A positive angle in arcsec from a float (taken as arcsec) or an angular Quantity."""
    try:
        if isinstance(value, u.Quantity):
            value = value.to_value(u.arcsec)
        value = float(value)
    except Exception as exc:  # noqa: BLE001 - any failure means a bad argument
        raise ConfigurationError(
            f"{name}={value!r} is not an angle; give a number of arcsec or an astropy angle "
            "such as 3 * u.arcsec"
        ) from exc
    if not np.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive angle, got {value!r} arcsec")
    return value


def column_as_float(table, name):
    """A table column as a float ndarray, masked entries as NaN (units stripped)."""
    col = table[name]
    values = getattr(col, "value", col)
    if hasattr(values, "unmasked"):
        values = np.ma.array(values.unmasked, mask=values.mask)
    return np.ma.filled(np.ma.asarray(values).astype(float), np.nan)


def find_column(table, candidates, what, source="table"):
    """The name of the first column of ``table`` matching ``candidates``, case-insensitively.

    Raises
    ------
    ConfigurationError
        When none matches.
    """
    lower = {name.lower(): name for name in table.colnames}
    for cand in candidates:
        if cand.lower() in lower:
            return lower[cand.lower()]
    raise ConfigurationError(
        f"{source}: no {what} column found (looked for {', '.join(candidates)}; "
        f"it has {', '.join(table.colnames[:20])}); rename the column or pass its name"
    )


def catalog_positions(catalog, ra_column="ra", dec_column="dec"):
    """RA, Dec (deg) of a catalogue as float arrays, NaN where missing, failed or out of range."""
    for name in (ra_column, dec_column):
        if name not in catalog.colnames:
            raise ConfigurationError(
                f"the catalogue has no {name!r} column (it has {', '.join(catalog.colnames)}); "
                "pass ra_column= / dec_column= to name the position columns"
            )
    ra = _degrees(catalog[ra_column])
    dec = _degrees(catalog[dec_column])
    bad = ~np.isfinite(ra) | ~np.isfinite(dec) | (np.abs(dec) > 90.0)
    ra = np.where(bad, np.nan, ra)
    dec = np.where(bad, np.nan, dec)
    return ra, dec


def _degrees(col):
    unit = getattr(col, "unit", None)
    values = getattr(col, "value", col)  # plain numbers of a Column or Quantity
    if hasattr(values, "unmasked"):  # astropy Masked quantity values
        values = np.ma.array(values.unmasked, mask=values.mask)
    data = np.asarray(np.ma.filled(np.ma.asarray(values).astype(float), np.nan), dtype=float)
    if unit is not None and unit != u.dimensionless_unscaled:
        data = (data * u.Unit(unit)).to_value(u.deg)
    return data


def candidate_mask(catalog, status_column="status", candidate_column="is_bhb_candidate"):
    """Rows that are BHB candidates: ``is_bhb_candidate`` where present, else every ok row."""
    n = len(catalog)
    ok = np.ones(n, dtype=bool)
    if status_column in catalog.colnames:
        ok = np.asarray(np.ma.filled(np.ma.asarray(catalog[status_column]).astype(str), "")) == "ok"
    if candidate_column in catalog.colnames:
        cand = np.ma.filled(np.ma.asarray(catalog[candidate_column]).astype(bool), False)
        return ok & np.asarray(cand, dtype=bool)
    return ok


_FORMATS = {".csv": "ascii.csv", ".ecsv": "ascii.ecsv", ".fits": "fits", ".fit": "fits",
            ".fts": "fits", ".vot": "votable", ".xml": "votable", ".votable": "votable"}


def read_table_file(path):
    """Read a CSV, ECSV, FITS or VOTable file into a `~astropy.table.Table`.

    The format comes from the suffix (``.gz`` looked through), else astropy guesses.

    Raises
    ------
    ConfigurationError
        When the file is missing or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"{path}: no such file; give the path of a CSV, ECSV, FITS "
                                 "or VOTable catalogue")
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = _FORMATS.get(suffixes[-1]) if suffixes else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unit / VO warnings of third-party files
            return Table.read(path, format=fmt) if fmt else Table.read(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure means the same to the user
        raise ConfigurationError(
            f"{path}: could not read it as a table ({type(exc).__name__}: {exc}); use CSV "
            "with a header line, ECSV, FITS or VOTable"
        ) from exc
