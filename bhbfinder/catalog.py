"""The output catalogue: its guaranteed columns, their units and descriptions, reading, writing.

Every catalogue `find_bhb` returns has at least the columns of :data:`CATALOG_COLUMNS`, one row
per input spectrum, whatever stages ran; a column whose stage did not run (or failed for a
chunk) is present and masked. Stages add more columns (every Balmer-fit parameter, stage-1
probabilities, Gaia photometry, ...), which keep the descriptions the stage gave them.
"""

import json
import os
import warnings
from collections import Counter
from pathlib import Path

import asdf
import astropy.units as u
import numpy as np
from astropy.io.votable import from_table, parse
from astropy.io.votable.tree import Info
from astropy.table import Column, MaskedColumn, QTable, Table
from astropy.utils.exceptions import AstropyWarning

from . import hookspecs
from ._text import escape_array, escape_text, escape_tree
from .errors import ConfigurationError

__all__ = ["CATALOG_COLUMNS", "READER_COLUMNS", "FORMATS", "ensure_columns", "describe",
           "catalog_format", "check_output", "write_catalog", "read_catalog", "summarize",
           "format_summary", "new_bhb_column", "STAGE_OK", "STAGE_SKIPPED", "STAGE_FAILED"]

#: What ``stage_status`` in a catalogue's meta says of a stage (see `bhbfinder.pipeline`).
STAGE_OK, STAGE_SKIPPED, STAGE_FAILED = "ok", "skipped", "failed"

#: name -> (dtype, unit, description) of the columns every catalogue has: the schema of
#: `bhbfinder.hookspecs.CATALOG_COLUMNS` (the contract stages are written against) as numpy
#: types and astropy units.
CATALOG_COLUMNS = {
    name: ({int: np.int64}.get(kind, kind), None if unit is None else u.Unit(unit), description)
    for name, (kind, unit, description) in hookspecs.CATALOG_COLUMNS.items()
}

#: Descriptions of the columns every reader fills (`bhbfinder.io.base.META_KEYS`), so that every
#: column of a catalogue says what it holds (stages describe the columns they add).
READER_COLUMNS = {
    "reader": "reader (plugin) that read the file ('' when it could not be read)",
    "survey": "survey the spectrum comes from (e.g. LAMOST, SDSS)",
    "data_release": "survey data release of the file",
    "designation": "survey designation of the target, from the header (escaped where not "
                   "ASCII in FITS output)",
    "z": "redshift from the survey pipeline (header)",
    "z_err": "uncertainty of z (header)",
    "class": "survey pipeline class (header, e.g. STAR, GALAXY)",
    "subclass": "survey pipeline subclass (header, e.g. A0, F5)",
    "snr_u": "signal-to-noise ratio in the u band, from the header",
    "snr_r": "signal-to-noise ratio in the r band, from the header",
    "snr_i": "signal-to-noise ratio in the i band, from the header",
    "snr_z": "signal-to-noise ratio in the z band, from the header",
    "mjd": "modified Julian date of the observation (header)",
    "flux_unit": "unit of the file's flux",
    "mag_g": "g magnitude of the survey's input catalogue, from the header (LAMOST MAGTYPE / "
             "MAGn; not dereddened)",
    "mag_r": "r magnitude of the survey's input catalogue, from the header (LAMOST MAGTYPE / "
             "MAGn; not dereddened)",
}

#: File extensions `write_catalog` understands, and the astropy format used. Every one keeps
#: masked values masked, the column units and descriptions and the table meta (see
#: `write_catalog`). Plain CSV cannot (no masks, no meta, no array columns): use ECSV, which is
#: CSV with a YAML header that any CSV reader skips as comments.
FORMATS = {
    ".fits": "fits", ".fit": "fits", ".fits.gz": "fits", ".ecsv": "ascii.ecsv",
    ".parquet": "parquet", ".asdf": "asdf", ".vot": "votable", ".xml": "votable",
}

#: The FITS header keyword holding the table meta (as JSON), which FITS cannot hold natively.
FITS_META_KEYWORD = "BHBMETA"
#: The VOTable INFO element holding the table meta (as JSON).
VOTABLE_META_INFO = "bhbfinder_meta"
#: Suffix of the boolean column that carries another column's mask where a format has no null
#: value for it (FITS: every masked column; ECSV: strings; VOTable: strings, integers, floats
#: holding real NaN). `read_catalog` folds them back into masked columns.
MASK_SUFFIX = ".mask"


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
    for name, description in READER_COLUMNS.items():
        if name in table.colnames and not getattr(table[name].info, "description", None):
            table[name].info.description = description
    table.meta["column_descriptions"] = {
        name: table[name].info.description or "" for name in table.colnames
    }
    return table


def catalog_format(path, format=None):
    """The astropy format name `write_catalog` uses for ``path``.

    Raises
    ------
    ConfigurationError
        For an extension not in :data:`FORMATS` (e.g. ``.csv``), naming the ones that work.
    """
    if format:
        if format not in set(FORMATS.values()):
            raise ConfigurationError(
                f"output {os.fspath(path)!r}: format {format!r} is not a catalogue format; "
                f"use one of {', '.join(sorted(set(FORMATS.values())))}")
        return format
    name = Path(path).name.lower()
    for ext in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return FORMATS[ext]
    hint = ""
    if name.endswith(".csv"):
        hint = (" (plain CSV loses masks, units and meta; .ecsv is CSV with a YAML header "
                "that CSV readers skip as comments)")
    raise ConfigurationError(
        f"output {os.fspath(path)!r}: unknown catalogue format; use one of the extensions "
        f"{', '.join(sorted(FORMATS))}{hint}"
    )


def check_output(path, format=None, overwrite=False):
    """Check, before any work, that a catalogue can be written to ``path``.

    Parameters
    ----------
    path : str or path-like
    format : str, optional
        See `write_catalog`.
    overwrite : bool
        Whether an existing file may be replaced.

    Returns
    -------
    str
        The astropy format name.

    Raises
    ------
    ConfigurationError
        Unknown format, a directory at ``path``, an existing file without ``overwrite``, or a
        parent that is not a directory or not writable.
    """
    if Path(path).is_dir():
        raise ConfigurationError(f"output {os.fspath(path)!r} is a directory; give a "
                                 "catalogue file name such as catalog.fits")
    fmt = catalog_format(path, format)
    path = Path(path)
    if path.exists() and not overwrite:
        raise ConfigurationError(f"output {os.fspath(path)!r} exists; pass overwrite=True "
                                 "(--overwrite) to replace it, or choose another name")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigurationError(f"output {os.fspath(path)!r}: {os.fspath(parent)!r} is not a "
                                 "directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigurationError(f"output {os.fspath(path)!r}: cannot write in "
                                 f"{os.fspath(parent)!r} (permission denied)")
    return fmt


def write_catalog(table, path, format=None, overwrite=False):
    """Write the catalogue; the format is chosen by extension (see :data:`FORMATS`).

    Every format keeps what `read_catalog` needs to give the table back as it was: masked
    values stay masked (where a format has no null value for a column, a boolean
    ``NAME.mask`` column carries the mask, and the masked entries hold NaN, ``False``, ``""``
    or the column's fill value), units and column descriptions are kept, and the table meta
    (``summary``, ``stages``, ...) is stored natively (ECSV, ASDF, Parquet) or as JSON in the
    ``BHBMETA`` header keyword (FITS) or the ``bhbfinder_meta`` INFO element (VOTable). Text a
    format cannot encode (file names that are not UTF-8; non-ASCII characters in FITS) is
    written escaped (``\\xff`` for an undecodable byte, ``\\xe9`` for a non-ASCII
    character in FITS), never dropped.

    The file is written to a temporary name and renamed into place, so a crash never leaves a
    half-written catalogue.

    Parameters
    ----------
    table : `~astropy.table.Table` or `~astropy.table.QTable`
    path : str or path-like
    format : str, optional
        An astropy format name of :data:`FORMATS` (default: from the extension).
    overwrite : bool
        Replace an existing file (default False: an existing file raises).

    Raises
    ------
    ConfigurationError
        See `check_output`.
    """
    fmt = check_output(path, format, overwrite)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{''.join(path.suffixes)}")
    out = _portable(table, ascii_only=(fmt == "fits"))
    try:
        if fmt == "asdf":
            asdf.AsdfFile({"catalog": out}).write_to(tmp)
        elif fmt == "fits":
            _write_fits(out, tmp)
        elif fmt == "votable":
            _write_votable(out, tmp)
        elif fmt == "ascii.ecsv":
            _write_ecsv(out, tmp)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AstropyWarning)
                out.write(tmp, format=fmt, overwrite=True)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _portable(table, ascii_only):
    """A shallow copy of ``table`` whose text and meta every format can store."""
    out = Table(table, copy=False)
    out = out.copy(copy_data=False)  # new column objects: the caller's keep their attributes
    for name in out.colnames:
        col = out[name]
        if col.dtype.kind == "U":
            data = np.asarray(col)
            escaped = escape_array(data, ascii_only)
            if escaped is not data:
                kwargs = dict(name=name, unit=col.unit, description=col.info.description)
                out[name] = (MaskedColumn(escaped, mask=np.ma.getmaskarray(col), **kwargs)
                             if isinstance(col, MaskedColumn) else Column(escaped, **kwargs))
        if ascii_only and col.info.description:
            out[name].info.description = escape_text(col.info.description, True)
    out.meta = escape_tree(_plain_meta(table.meta), ascii_only)
    return out


def _plain_meta(meta):
    """The meta as JSON-able values (numpy scalars and arrays turned into Python ones)."""
    def plain(value):
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
        return value
    return {str(k): plain(v) for k, v in meta.items() if _serialisable(v)}


def _neutral_fill(col):
    kind = col.dtype.kind
    if kind in "fc":
        return np.nan
    if kind == "b":
        return False
    if kind in "US":
        return ""
    return col.fill_value


def _move_units(out, format_name):
    """Units the format cannot name move to the description; returns ``{name: unit}``."""
    moved = {}
    for name in out.colnames:
        unit = getattr(out[name], "unit", None)
        if unit is None:
            continue
        try:
            unit.to_string(format_name)
        except ValueError:
            moved[name] = unit.to_string()
            out[name].unit = None
            desc = out[name].info.description or ""
            out[name].info.description = f"{desc} [{moved[name]}]".strip()
    return moved


def _restore_units(table, moved):
    for name, unit in moved.items():
        if name in table.colnames:
            table[name].unit = unit
            desc = table[name].info.description or ""
            suffix = f" [{unit}]"
            if desc.endswith(suffix):
                table[name].info.description = desc[:-len(suffix)]
            elif desc == suffix.strip():
                table[name].info.description = None


def _write_fits(out, tmp):
    units = _move_units(out, "fits")
    for name in out.colnames:
        col = out[name]
        if isinstance(col, MaskedColumn) and np.any(col.mask):
            filled = MaskedColumn(col.filled(_neutral_fill(col)), mask=col.mask, name=name,
                                  unit=col.unit, description=col.info.description)
            filled.info.serialize_method["fits"] = "data_mask"
            out[name] = filled
    payload = {"meta": out.meta, "units": units}
    out.meta = {FITS_META_KEYWORD: json.dumps(payload, ensure_ascii=True)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        out.write(tmp, format="fits", overwrite=True)


def _write_ecsv(out, tmp):
    # ECSV writes a masked string as an empty field, which reads back as masked: an unmasked
    # "" (known_catalog: checked, not known) would come back masked (not checked)
    for name in out.colnames:
        col = out[name]
        if isinstance(col, MaskedColumn) and col.dtype.kind in "US" and np.any(col.mask):
            col.info.serialize_method["ecsv"] = "data_mask"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        out.write(tmp, format="ascii.ecsv", overwrite=True)


def _needs_mask_column(col, native_null_kinds):
    """Whether a VOTable column needs a companion mask column to round-trip exactly."""
    kind = col.dtype.kind
    data = np.asarray(col)
    mask = np.ma.getmaskarray(col)
    if kind in "fc":
        return bool(np.any(np.isnan(data) & ~mask))  # NaN is the null: real NaN would be lost
    return kind not in native_null_kinds and bool(mask.any())


def _write_votable(out, tmp):
    units = _move_units(out, "vounit")
    masks = []
    for name in list(out.colnames):
        col = out[name]
        if not _needs_mask_column(col, native_null_kinds="b"):
            continue
        mask = np.ma.getmaskarray(col)
        data = np.ma.filled(col, _neutral_fill(col)) if isinstance(col, MaskedColumn) else col
        out[name] = Column(np.asarray(data), name=name, unit=col.unit,
                           description=col.info.description)
        index = out.colnames.index(name)
        out.add_column(Column(mask, name=name + MASK_SUFFIX,
                              description=f"True where {name} has no value"), index=index + 1)
        masks.append(name)
    # VOTable DESCRIPTION elements are re-wrapped on writing: keep the exact text too
    descriptions = {name: out[name].info.description for name in out.colnames
                    if out[name].info.description}
    payload = {"meta": out.meta, "units": units, "masks": masks, "descriptions": descriptions}
    out.meta = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        votable = from_table(out)
        votable.get_first_table().infos.append(
            Info(name=VOTABLE_META_INFO, value=json.dumps(payload, ensure_ascii=True)))
        votable.to_xml(str(tmp))


def read_catalog(path, format=None):
    """Read a catalogue written by `write_catalog` back as a `~astropy.table.QTable`.

    Masks, units, descriptions and meta come back as they were written (text that had to be
    escaped stays escaped).
    """
    fmt = catalog_format(path, format)
    if fmt == "asdf":
        with asdf.open(path, lazy_load=False, memmap=False) as af:
            table = Table(af["catalog"], copy=True)
    elif fmt == "fits":
        table = _read_fits(path)
    elif fmt == "votable":
        table = _read_votable(path)
    else:
        table = Table.read(path, format=fmt)
    return QTable(table)


def _read_fits(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        table = Table.read(path, format="fits", mask_invalid=False, character_as_bytes=False)
    payload = table.meta.pop(FITS_META_KEYWORD, None)
    if payload is not None:
        payload = json.loads(payload)
        table.meta.update(payload.get("meta", {}))
        _restore_units(table, payload.get("units", {}))
    return table


def _read_votable(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        votable = parse(str(path))
        vtable = votable.get_first_table()
        table = vtable.to_table(use_names_over_ids=True)
    payload = {}
    for info in vtable.infos:
        if info.name == VOTABLE_META_INFO:
            payload = json.loads(info.value)
    table.meta.clear()
    table.meta.update(payload.get("meta", {}))
    for name in table.colnames:
        col = table[name]
        if isinstance(col, MaskedColumn) and not np.any(col.mask):
            table[name] = Column(col.data, name=name, unit=col.unit,
                                 description=col.info.description)
    for name, description in payload.get("descriptions", {}).items():
        if name in table.colnames:
            table[name].info.description = description
    for name in payload.get("masks", []):
        mask_name = name + MASK_SUFFIX
        if name in table.colnames and mask_name in table.colnames:
            col = table[name]
            table[name] = MaskedColumn(np.asarray(col), mask=np.asarray(table[mask_name]),
                                       name=name, unit=col.unit,
                                       description=col.info.description)
            table.remove_column(mask_name)
    _restore_units(table, payload.get("units", {}))
    return table


def _serialisable(value):
    return isinstance(value, (str, int, float, bool, list, tuple, dict)) or value is None


def summarize(table, elapsed=None):
    """Counts per status and per class, candidates, Balmer-confirmed candidates, new BHB (and
    those whose novelty was not checked); timing when given."""
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
        # candidates whose Balmer profiles pass the criteria (A/B stars that pass them are
        # not BHB candidates and not counted)
        "confirmed": int(np.sum(_flag(table, "is_bhb_candidate")
                                & _flag(table, "balmer_confirmed"))),
        # the final verdict (is_bhb), where the verdict stage ran
        "bhb": count("is_bhb"),
        "new": count("is_new_bhb"),
        # BHB stars whose novelty could not be told (known-catalogue check not run)
        "new_undetermined": (int(np.sum(np.ma.getmaskarray(table["is_new_bhb"])
                                        & _decided(table)))
                             if "is_new_bhb" in table.colnames else 0),
    }
    share = table.meta.get("verdict_prevalence")
    if share is not None and "is_bhb" in table.colnames:
        # the share of BHB stars among hot spectra the verdict was set for, and its threshold
        summary["verdict_prevalence"] = round(float(share), 4)
        summary["verdict_threshold"] = round(float(table.meta.get("verdict_threshold",
                                                                  float("nan"))), 4)
        estimate = table.meta.get("verdict_prevalence_estimate")
        if isinstance(estimate, dict) and "n_hot" in estimate:
            summary["verdict_prevalence_rows"] = int(estimate["n_hot"])
    if elapsed is not None:
        summary["elapsed_s"] = round(float(elapsed), 3)
        summary["spectra_per_s"] = round(len(table) / elapsed, 2) if elapsed > 0 else None
    return summary


def _decided(table):
    """Rows decided BHB (`bhbfinder.hookspecs.NEW_BHB_RULE`): ``is_bhb`` where the verdict
    ran, else confirmed candidates."""
    rule = hookspecs.NEW_BHB_RULE
    ran = all(name in table.colnames and not np.ma.getmaskarray(table[name]).all()
              for name in rule["decision"])
    names = rule["decision"] if ran else rule["fallback"]
    return np.logical_and.reduce([_flag(table, name) for name in names])


def _flag(table, name):
    if name not in table.colnames:
        return np.zeros(len(table), bool)
    col = table[name]
    return np.asarray(col.filled(False) if hasattr(col, "filled") else col, dtype=bool)


def format_summary(summary):
    """The summary as a few human-readable lines."""
    lines = [f"{summary['n_spectra']} spectra"]
    lines.append("  status:  " + ", ".join(f"{k}: {v}" for k, v in summary["status"].items()))
    if summary["classes"]:
        lines.append("  classes: " + ", ".join(f"{k}: {v}" for k, v in summary["classes"].items()))
    new = f"new BHB: {summary['new']}"
    if summary.get("new_undetermined"):
        new += (f" ({summary['new_undetermined']} more not checked against known catalogues: "
                "the known stage did not run; use --online)")
    lines.append(f"  BHB candidates: {summary['candidates']}, of which Balmer-confirmed: "
                 f"{summary['confirmed']}")
    if "bhb" in summary:
        lines.append(f"  BHB stars (is_bhb, the final verdict): {summary['bhb']}, {new}")
    else:
        lines.append(f"  {new}")
    if summary.get("verdict_prevalence") is not None:
        how = (f"estimated from {summary['verdict_prevalence_rows']} hot spectra"
               if "verdict_prevalence_rows" in summary else "given or the model's")
        lines.append(f"  verdict set for a BHB share of {summary['verdict_prevalence']:.3g} "
                     f"among hot spectra ({how}), threshold {summary['verdict_threshold']:.3g}")
    if "elapsed_s" in summary:
        lines.append(f"  {summary['elapsed_s']:.1f} s, {summary['spectra_per_s']} spectra/s")
    return "\n".join(lines)


def new_bhb_column(table, known_checked=True):
    """``is_new_bhb`` by `bhbfinder.hookspecs.NEW_BHB_RULE`, in three-valued logic: False where
    any condition is known to fail, True where all are known to hold, masked where that cannot
    be told (a condition's column is masked, e.g. the known-catalogue check did not run, and
    none is known to fail)."""
    def flag(values, mask):
        return np.asarray(values, dtype=bool), np.asarray(mask, dtype=bool)

    def column(name):
        col = table[name]
        mask = np.ma.getmaskarray(col)
        return flag(np.ma.getdata(col), mask)

    rule = hookspecs.NEW_BHB_RULE
    known = table[rule["known"]]
    known_mask = np.ma.getmaskarray(known) | (not known_checked)
    unknown = flag(np.asarray(np.ma.getdata(known), dtype=str) == "", known_mask)
    # the final verdict where it ran; else the classifier's candidates confirmed by Balmer
    ran = all(name in table.colnames and not np.ma.getmaskarray(table[name]).all()
              for name in rule["decision"])
    decision = [column(name) for name in (rule["decision"] if ran else rule["fallback"])]
    conditions = decision + [column(name) for name in rule["also"]] + [unknown]
    false = np.zeros(len(table), bool)
    undetermined = np.zeros(len(table), bool)
    for values, mask in conditions:
        false |= ~values & ~mask
        undetermined |= mask
    new = ~false & ~undetermined
    return MaskedColumn(new, mask=undetermined & ~false, name="is_new_bhb")
