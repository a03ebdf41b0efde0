"""The inputs of a run: what a ``source`` stands for, in a deterministic order.

`expand_source` takes what `~bhbfinder.find_bhb` accepts (a folder, a glob, a file, a list of
paths, spectra in memory, a table with a path column) and turns it into the list of inputs;
paths are expanded by `bhbfinder.io.read.iter_paths`, the package's one input expansion.

A table's other columns travel with each of its files (``_Item.columns``) and become columns of
the chunk's meta before the batch stages run (`add_source_columns`): a user's colours, E(B-V)
or per-fibre resolution reach the stages and the catalogue.
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import MaskedColumn, Table

from ..errors import ConfigurationError
from ..hookspecs import CATALOG_COLUMNS
from ..io.base import META_SCHEMA, SpectrumArrays
from ..io.read import iter_paths

__all__ = ["expand_source", "add_source_columns", "source_columns_digest", "path_column",
           "RESERVED_COLUMNS", "PATH_COLUMNS"]

#: The columns of a source table that name its files, looked for in this order.
PATH_COLUMNS = ("path", "file", "filename")

#: Columns the pipeline owns, which a source table may not bring (refused, to be renamed): the
#: bookkeeping of every row (``file``, ``status`` -- which also holds the reason a row failed --
#: and the chunk index), what preparation measures into the meta (`bhbfinder.stages.prepare`:
#: the stages would see the measured value while the catalogue kept the table's), and the
#: catalogue columns the stages compute (`bhbfinder.hookspecs.CATALOG_COLUMNS` without the
#: reader's keys, `bhbfinder.io.base.META_SCHEMA`, which a table's value replaces).
RESERVED_COLUMNS = (
    ("file", "status", "_input_index")
    + ("rv", "rv_err", "rv_source", "rv_template", "rv_chi2", "noise_ratio", "ivar_scale",
       "snr_prepared", "good_fraction")
    + tuple(name for name in CATALOG_COLUMNS if name not in META_SCHEMA
            and name not in ("file", "status"))
)

#: dtype kinds a source column may have: one bool, integer, float or string per row, what a
#: FITS or ECSV catalogue holds.
_KINDS = "biufUS"


@dataclass
class _Item:
    """One input: a path, or an in-memory spectrum as arrays.

    ``columns`` holds, for an input from a source table, the row's other values
    (``{column: value}``, ``None`` where the table's value is masked); ``schema`` (one dict
    shared by all the table's items) the columns' ``(dtype, unit, description)``. Both are
    plain data, so items pickle to worker processes and Dask.
    """

    name: str
    arrays: object = None
    columns: dict | None = None
    schema: dict | None = None


def _own_files(output):
    """The files a run writes beside ``output`` (never inputs of a directory walk)."""
    if output is None:
        return ()
    output = Path(output)
    return (output, output.with_name(output.name + ".parts"),
            output.with_name(output.name + ".lock"))


def _refuse_output_among_inputs(output, items):
    target = os.path.realpath(output)
    name = os.path.basename(target)
    for item in items:
        if item.arrays is not None or os.path.basename(item.name) != name:
            continue
        if os.path.realpath(item.name) == target:
            raise ConfigurationError(
                f"the output {os.fspath(output)!r} is also one of the inputs; writing it would "
                "destroy an input: choose another output name")


# -- inputs ---------------------------------------------------------------------------------
def expand_source(source, exclude=()):
    """The list of inputs (`_Item`) a ``source`` stands for, in a deterministic order.

    Paths, globs and lists of them are expanded by `bhbfinder.io.read.iter_paths` (folders
    walked, globs sorted, also inside lists). A single path that does not exist, or a pattern
    that matches nothing, is an error (`~bhbfinder.errors.ConfigurationError`); a missing path
    in a list becomes a ``"file not found"`` row. Directory walks skip the paths in
    ``exclude`` (a run's own output, chunk folder and lock file).

    A `~astropy.table.Table` names its files in its first column of `PATH_COLUMNS`, one input
    per row in table order; each input keeps the row's other values (``_Item.columns``, None
    where masked; bytes decoded as UTF-8, a Quantity's unit kept, its values not converted),
    which `add_source_columns` puts into the chunk's meta.

    Parameters
    ----------
    source : str, path-like, list, Spectrum, SpectrumList, SpectrumArrays or Table
        What `~bhbfinder.find_bhb` accepts.
    exclude : iterable of path-like
        Paths a directory walk skips.

    Returns
    -------
    list of `_Item`

    Raises
    ------
    ConfigurationError
        A path or pattern that names nothing; a table without a path column, with a column of
        `RESERVED_COLUMNS` (or named ``*.mask``), or with a column that is not one number,
        string or bool per row; a source of another type.
    """
    # specutils costs ~3 s to import; a source can only hold its spectra if it is imported
    specutils = sys.modules.get("specutils")
    Spectrum = getattr(specutils, "Spectrum", ())
    SpectrumList = getattr(specutils, "SpectrumList", ())
    if isinstance(source, Spectrum):
        return _spectrum_items([source])
    if isinstance(source, SpectrumList):
        return _spectrum_items(list(source))
    if isinstance(source, Table):
        return _table_items(source)
    if isinstance(source, SpectrumArrays):
        return [_Item("<memory:0>", source)]
    if isinstance(source, (str, os.PathLike)):
        # a path that does not exist, or a pattern that matches nothing, is an error here; in
        # a list it becomes a "file not found" row (reading it says so), never a silent skip
        return [_Item(p) for p in iter_paths(os.fspath(source), exclude=exclude, strict=True)]
    if isinstance(source, (list, tuple)):
        if all(isinstance(s, Spectrum) for s in source) and source:
            return _spectrum_items(list(source))
        return [_Item(p) for p in iter_paths([os.fspath(entry) for entry in source],
                                             exclude=exclude)]
    raise ConfigurationError(
        f"cannot read spectra from a {type(source).__name__}; give a directory, glob, path, "
        "list of paths, Spectrum/SpectrumList, or a table with a path column"
    )


def _spectrum_items(spectra):
    items = []
    for spec in spectra:
        flux = np.asarray(spec.flux)
        if flux.ndim == 1:
            items.append(_Item(f"<memory:{len(items)}>", SpectrumArrays.from_spectrum(spec)))
            continue
        for row in range(flux.shape[0]):
            items.append(_Item(f"<memory:{len(items)}>",
                               SpectrumArrays.from_spectrum(spec[row])))
    for item in items:
        given = item.arrays.meta.get("file")
        if isinstance(given, (str, os.PathLike)) and os.fspath(given):
            item.name = os.fspath(given)  # Spectrum.meta["file"] names its row
        item.arrays.meta["file"] = item.name
    return items


# -- a table's other columns ----------------------------------------------------------------
def path_column(table, what="the source table"):
    """The name of ``table``'s first column of `PATH_COLUMNS`.

    Raises
    ------
    ConfigurationError
        If it has none (``what`` names the table in the message).
    """
    name = next((name for name in PATH_COLUMNS if name in table.colnames), None)
    if name is None:
        raise ConfigurationError(f"{what} has no path column (looked for "
                                 f"{', '.join(PATH_COLUMNS)}; it has {table.colnames})")
    return name


def _table_items(source):
    """The inputs of a source table: its path column, each row's other values with it."""
    path_name = path_column(source)
    names = [str(p) for p in source[path_name]]
    others = [name for name in source.colnames if name != path_name]
    if not others:
        return [_Item(name) for name in names]
    schema, values = {}, {}
    for name in others:
        schema[name], values[name] = _source_column(source, name, path_name)
    return [_Item(path, columns={name: values[name][i] for name in others}, schema=schema)
            for i, path in enumerate(names)]


def _source_column(source, name, path_name):
    """``((dtype, unit, description), values)`` of one of a source table's other columns;
    ``values`` a list of plain Python scalars, None where masked."""
    if name in RESERVED_COLUMNS or name.endswith(".mask"):
        what = {"file": "the column naming each row's input file",
                "status": "the column saying 'ok' or why a row failed"}.get(
            name, "a column the pipeline fills" if not name.endswith(".mask") else
            "the catalogue's mask columns (NAME.mask)")
        raise ConfigurationError(
            f"the source table's column {name!r} clashes with {what}; rename it (e.g. "
            f"source.rename_column({name!r}, 'src_{name.replace('.', '_')}')) or remove it "
            f"before passing the table (its files are named by its {path_name!r} column)")
    col = source[name]
    unit = getattr(col, "unit", None)
    data = getattr(col, "value", col) if unit is not None else col   # a Quantity's numbers
    data = np.ma.asanyarray(data) if hasattr(data, "mask") else np.asanyarray(data)
    kind = data.dtype.kind
    if kind not in _KINDS or data.ndim != 1:
        shape = f"of shape {data.shape}" if data.ndim != 1 else f"of dtype {data.dtype}"
        raise ConfigurationError(
            f"the source table's column {name!r} ({type(col).__name__} {shape}) cannot travel "
            f"with its files: only columns with one number, string or bool per row can (what "
            f"a FITS or ECSV catalogue holds); remove it, or split it into such columns, "
            f"before passing the table")
    mask = np.ma.getmaskarray(data)
    plain = np.ma.getdata(data)
    if kind == "S":   # bytes (FITS tables read by astropy): text
        plain = np.char.decode(plain, "utf-8", errors="replace")
    values = [None if m else v.item() for v, m in zip(plain, mask)]
    dtype = "<U" if plain.dtype.kind == "U" else plain.dtype.newbyteorder("=").str
    description = getattr(col.info, "description", None) or \
        f"{name!r} from the source table (one row per input file)"
    return (dtype, None if unit is None else str(unit), description), values


def add_source_columns(table, items):
    """Put the source table's values of ``items`` (one per row of ``table``, in order) into
    ``table`` as columns (masked where missing; NaN under the mask of a float column),
    replacing the reader's columns of the same names; returns ``table``."""
    schema = next((item.schema for item in items if item.schema), None)
    if not schema:
        return table
    if len(table) != len(items):
        raise RuntimeError(f"internal error: {len(table)} meta rows for {len(items)} inputs")
    for name, (dtype, unit, description) in schema.items():
        values = [None if item.columns is None else item.columns.get(name) for item in items]
        missing = np.array([v is None for v in values], dtype=bool)
        kind = np.dtype(dtype).kind
        if kind == "U":
            data = np.array(["" if v is None else v for v in values], dtype=str)
            if data.dtype.itemsize == 0 or not len(data):
                data = data.astype("U1")
        else:
            fill = np.nan if kind == "f" else 0
            data = np.array([fill if v is None else v for v in values], dtype=dtype)
        table[name] = MaskedColumn(data, mask=missing, name=name, unit=unit,
                                   description=description)
    return table


def source_columns_digest(items):
    """A digest of the source table's values of ``items`` (None when they have none): what the
    run's fingerprint holds so that a resumed run with other values is refused."""
    schema = next((item.schema for item in items if item.schema), None)
    if not schema:
        return None
    import hashlib
    import json

    digest = hashlib.sha256()
    digest.update(json.dumps(schema, sort_keys=True).encode())
    for item in items:
        columns = item.columns or {}
        digest.update(json.dumps([repr(columns.get(name)) for name in schema],
                                 ensure_ascii=True).encode())
        digest.update(b"\0")
    return {"names": list(schema), "sha256": digest.hexdigest()}
