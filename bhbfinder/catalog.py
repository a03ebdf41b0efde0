"""The output catalogue: its guaranteed columns, their units and descriptions, reading, writing.

Every catalogue `find_bhb` returns has at least the columns of :data:`CATALOG_COLUMNS`, one row
per input spectrum, whatever stages ran; a column whose stage did not run (or failed for a
chunk) is present and masked. Stages add more columns (every Balmer-fit parameter, stage-1
probabilities, Gaia photometry, ...), which keep the descriptions the stage gave them.
"""

import os
from collections import Counter
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import MaskedColumn, QTable, Table

from .errors import ConfigurationError

__all__ = ["CATALOG_COLUMNS", "FORMATS", "ensure_columns", "describe", "write_catalog",
           "read_catalog", "summarize", "format_summary"]

#: name -> (dtype, unit, description) of the columns every catalogue has.
CATALOG_COLUMNS = {
    "file": (str, None, "input file (or <memory:N> for in-memory spectra)"),
    "obsid": (np.int64, None, "survey observation id (LAMOST obsid)"),
    "ra": (float, u.deg, "right ascension from the spectrum header (ICRS)"),
    "dec": (float, u.deg, "declination from the spectrum header (ICRS)"),
    "snr_g": (float, None, "signal-to-noise ratio in the g band, from the header"),
    "status": (str, None, "'ok', or why this spectrum could not be processed"),
    "stage1_class": (str, None, "stage-1 class (BHB, A, B, HotSD, WD, other)"),
    "p_bhb_stage1": (float, None, "stage-1 probability of the BHB class"),
    "p_bhb_stage2": (float, None, "stage-2 (BHB vs hard negatives) probability of BHB "
                                  "(where stage 1 says BHB)"),
    "is_bhb_candidate": (bool, None, "classifier verdict: BHB candidate"),
    "balmer_confirmed": (bool, None, "Balmer-line profile criteria satisfied"),
    "teff": (float, u.K, "effective temperature"),
    "teff_err": (float, u.K, "uncertainty of teff"),
    "logg": (float, u.dex, "surface gravity log10(g / cm s^-2)"),
    "logg_err": (float, u.dex, "uncertainty of logg"),
    "feh": (float, u.dex, "metallicity [Fe/H]"),
    "feh_err": (float, u.dex, "uncertainty of feh"),
    "group_id": (np.int64, None, "repeat-observation group (same star)"),
    "group_size": (np.int64, None, "number of spectra in the group"),
    "is_representative": (bool, None, "the spectrum chosen to represent its group"),
    "known_catalog": (str, None, "published BHB catalogue the star is already in ('' if none)"),
    "gaia_source_id": (np.int64, None, "Gaia DR3 source_id of the matched star"),
    "in_bhb_cmd_region": (bool, None, "inside the BHB region of the Gaia CMD (Culpan+2024)"),
    "distance": (float, u.kpc, "heliocentric distance"),
    "is_new_bhb": (bool, None, "candidate, Balmer-confirmed, representative and not already known"),
}

#: File extensions `write_catalog` understands, and the astropy format used.
FORMATS = {
    ".fits": "fits", ".fit": "fits", ".ecsv": "ascii.ecsv", ".parquet": "parquet",
    ".asdf": "asdf", ".vot": "votable", ".xml": "votable", ".csv": "ascii.csv",
}


def _empty_column(name, n):
    dtype, unit, description = CATALOG_COLUMNS[name]
    if dtype is str:
        data = np.zeros(n, dtype="U1")
    else:
        data = np.zeros(n, dtype=dtype)
    return MaskedColumn(data, mask=np.ones(n, bool), name=name, unit=unit,
                        description=description)


def ensure_columns(table):
    """Add, masked, any of :data:`CATALOG_COLUMNS` the table lacks; set units and descriptions."""
    n = len(table)
    for name in CATALOG_COLUMNS:
        if name not in table.colnames:
            table[name] = _empty_column(name, n)
    describe(table)
    return table


def describe(table):
    """Fill units and descriptions of the known columns; collect all descriptions in meta."""
    for name, (_, unit, description) in CATALOG_COLUMNS.items():
        if name in table.colnames:
            col = table[name]
            if not getattr(col.info, "description", None):
                col.info.description = description
            if unit is not None and getattr(col, "unit", None) is None \
                    and not isinstance(table, QTable):
                col.unit = unit
    table.meta["column_descriptions"] = {
        name: table[name].info.description or "" for name in table.colnames
    }
    return table


def _format_for(path, format=None):
    if format:
        return format
    suffixes = "".join(Path(path).suffixes[-2:]).lower()
    for ext, fmt in FORMATS.items():
        if suffixes.endswith(ext):
            return fmt
    raise ConfigurationError(
        f"output {path!r}: unknown catalogue format; use one of the extensions "
        f"{', '.join(sorted(FORMATS))} or pass format="
    )


def write_catalog(table, path, format=None, overwrite=True):
    """Write the catalogue, format chosen by extension (FITS, ECSV, Parquet, ASDF, VOTable).

    The file is written to a temporary name and renamed into place, so a crash never leaves a
    half-written catalogue.
    """
    fmt = _format_for(path, format)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")
    out = Table(table, copy=False)
    out.meta = {k: v for k, v in table.meta.items() if _serialisable(v)}
    if fmt == "asdf":
        import asdf

        asdf.AsdfFile({"catalog": out}).write_to(tmp)
    elif fmt in ("fits", "votable", "parquet", "ascii.csv"):
        # these formats keep no nested meta; descriptions travel in the column info
        out.meta = {}
        if fmt == "fits":
            out = out.copy(copy_data=False)  # new column objects: the caller's keep their units
            _drop_non_fits_units(out)
        out.write(tmp, format=fmt, overwrite=True)
    else:
        out.write(tmp, format=fmt, overwrite=True)
    os.replace(tmp, path)
    return path


def _drop_non_fits_units(table):
    """FITS has no 'dex': keep such columns unitless, with the unit named in the description."""
    for name in table.colnames:
        unit = getattr(table[name], "unit", None)
        if unit is not None and "dex" in unit.to_string():
            table[name].unit = None
            desc = table[name].info.description or ""
            if "[dex]" not in desc:
                table[name].info.description = (desc + " [dex]").strip()


def read_catalog(path, format=None):
    """Read a catalogue written by `write_catalog` back as a `~astropy.table.QTable`."""
    fmt = _format_for(path, format)
    if fmt == "asdf":
        import asdf

        with asdf.open(path, lazy_load=False, memmap=False) as af:
            table = Table(af["catalog"], copy=True)
    else:
        table = Table.read(path, format=fmt)
    return QTable(table)


def _serialisable(value):
    return isinstance(value, (str, int, float, bool, list, tuple, dict)) or value is None


def summarize(table, elapsed=None):
    """Counts per status and per class, candidates, confirmed, new; timing when given."""
    def count(name):
        if name not in table.colnames:
            return 0
        col = table[name]
        values = np.asarray(col.filled(False) if hasattr(col, "filled") else col, dtype=bool)
        return int(values.sum())

    status = Counter(str(s) for s in table["status"])
    classes = Counter()
    if "stage1_class" in table.colnames:
        col = table["stage1_class"]
        values = col.filled("") if hasattr(col, "filled") else col
        classes = Counter(str(c) for c in values if str(c))
    summary = {
        "n_spectra": len(table),
        "status": dict(sorted(status.items(), key=lambda kv: -kv[1])),
        "classes": dict(sorted(classes.items(), key=lambda kv: -kv[1])),
        "candidates": count("is_bhb_candidate"),
        "confirmed": count("balmer_confirmed"),
        "new": count("is_new_bhb"),
    }
    if elapsed is not None:
        summary["elapsed_s"] = round(float(elapsed), 3)
        summary["spectra_per_s"] = round(len(table) / elapsed, 2) if elapsed > 0 else None
    return summary


def format_summary(summary):
    """The summary as a few human-readable lines."""
    lines = [f"{summary['n_spectra']} spectra"]
    lines.append("  status:  " + ", ".join(f"{k}: {v}" for k, v in summary["status"].items()))
    if summary["classes"]:
        lines.append("  classes: " + ", ".join(f"{k}: {v}" for k, v in summary["classes"].items()))
    lines.append(f"  BHB candidates: {summary['candidates']}, Balmer-confirmed: "
                 f"{summary['confirmed']}, new BHB: {summary['new']}")
    if "elapsed_s" in summary:
        lines.append(f"  {summary['elapsed_s']:.1f} s, {summary['spectra_per_s']} spectra/s")
    return "\n".join(lines)
