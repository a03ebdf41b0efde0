"""Chunk files of a run (``OUTPUT.parts/part-XXXXXXXXX.npz``): exact, fast, pickle-free.

Each finished chunk of `~bhbfinder.find_bhb` is written at once beside the output so that an
interrupted run loses nothing and ``resume=True`` carries on. A part is a NumPy ``.npz``
archive: one array per column (``d<i>``), its mask where the column is masked (``m<i>``), and
a JSON header (``header``) with the column names, units and descriptions. Reading never
unpickles (``allow_pickle=False``). Tables with columns NumPy cannot store without pickling
(object dtype, mixin columns such as `~astropy.coordinates.SkyCoord`) are written as ASDF
(``.asdf``) instead; both kinds are read back.
"""

import json
import os
import shutil
import zipfile
from pathlib import Path

import asdf
import numpy as np
from astropy.table import Column, MaskedColumn, Table

from .._tree import check_asdf_file
from ..errors import PartFileError

__all__ = ["PartFiles", "write_part", "read_part"]

_FORMAT = "bhbfinder-part"
_FORMAT_VERSION = 1


def _plain_columns(table):
    """True when every column is a (Masked)Column of a non-object dtype."""
    return all(isinstance(col, Column) and col.dtype.kind != "O" for col in table.columns.values())


def write_part(table, path):
    """Write ``table`` to ``path`` (``.npz``; ``.asdf`` when it needs tagged types).

    The file appears atomically: a part is either complete or absent.

    Returns
    -------
    pathlib.Path
        The path written (its suffix says which format was used).
    """
    path = Path(path)
    if not _plain_columns(table):
        path = path.with_suffix(".asdf")
    tmp = path.with_name("." + path.name + ".tmp")
    if path.suffix == ".asdf":
        out = Table(table, copy=False)
        out.meta = _json_meta(table.meta)
        asdf.AsdfFile({"part": out}).write_to(tmp)
    else:
        arrays = {}
        header = {"format": _FORMAT, "format_version": _FORMAT_VERSION, "columns": []}
        for i, (name, col) in enumerate(table.columns.items()):
            arrays[f"d{i}"] = np.asarray(col)
            masked = isinstance(col, MaskedColumn)
            if masked:
                arrays[f"m{i}"] = np.ma.getmaskarray(col)
            header["columns"].append({
                "name": name, "masked": masked,
                "unit": None if col.unit is None else col.unit.to_string(),
                "description": col.info.description,
            })
        header["meta"] = _json_meta(table.meta)
        arrays["header"] = np.array(json.dumps(header))
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    os.replace(tmp, path)
    return path


def read_part(path):
    """Read a part written by `write_part` into a `~astropy.table.Table`.

    Raises
    ------
    PartFileError
        When the file is damaged or not a part file (naming it); array sizes are checked
        against the file before anything is allocated.
    """
    path = Path(path)
    try:
        if path.suffix == ".asdf":
            check_asdf_file(path)
            with asdf.open(path, lazy_load=False, memmap=False) as af:
                return Table(af["part"], copy=True)
        _check_npz(path)
        return _read_npz(path)
    except PartFileError:
        raise
    except Exception as exc:
        raise PartFileError(f"{path}: not a readable bhbfinder part file "
                            f"({type(exc).__name__}: {exc}); delete it (its inputs are then "
                            "processed again on resume) or start again with --overwrite") from exc


def _read_npz(path):
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data["header"]))
        if not isinstance(header, dict) or header.get("format") != _FORMAT:
            raise PartFileError(f"{path}: not a bhbfinder part file")
        table = Table()
        for i, spec in enumerate(header["columns"]):
            kwargs = {"name": spec["name"], "unit": spec["unit"],
                      "description": spec["description"]}
            if spec["masked"]:
                table.add_column(MaskedColumn(data[f"d{i}"], mask=data[f"m{i}"], **kwargs))
            else:
                table.add_column(Column(data[f"d{i}"], **kwargs))
        meta = header.get("meta") or {}
        if not isinstance(meta, dict):
            raise PartFileError(f"{path}: its header's meta is not a mapping")
        table.meta.update(meta)
    return table


def _json_meta(meta):
    """The entries of ``meta`` that JSON can hold exactly (others are dropped)."""
    out = {}
    for key, value in meta.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[str(key)] = value
    return out


def _check_npz(path):
    """Refuse an ``.npz`` whose members could not have been written by `write_part`.

    Every member must be stored uncompressed (``np.savez``), no larger than the file, and hold
    a ``.npy`` array whose declared shape fits in the member, so that a crafted header cannot
    make NumPy allocate more than the file holds.
    """
    size = os.path.getsize(path)
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED or info.file_size > size:
                raise PartFileError(f"{path}: member {info.filename!r} is compressed or larger "
                                    "than the file; not a bhbfinder part file")
            with zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            if dtype.hasobject:
                raise PartFileError(f"{path}: member {info.filename!r} holds Python objects")
            nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if nbytes > info.file_size:
                raise PartFileError(f"{path}: member {info.filename!r} declares {nbytes} bytes "
                                    f"of data in {info.file_size}; the file is damaged")


class PartFiles:
    """The part files of a run beside its output (``OUTPUT.parts/``).

    Parameters
    ----------
    output : path-like
        The run's catalogue file.
    index_column : str
        Column holding each row's input index (names a part by its first index).
    """

    def __init__(self, output, index_column):
        output = Path(output)
        self.folder = output.with_name(output.name + ".parts")
        self.index_column = index_column

    def clear(self):
        """Remove every part (the folder too)."""
        if self.folder.exists():
            shutil.rmtree(self.folder)

    def exists(self):
        """Whether the folder is there (an interrupted run, or one still running)."""
        return self.folder.exists()

    def files(self):
        """The finished part files, in name order."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("part-*")
                      if p.suffix in (".npz", ".asdf"))

    def done_indices(self):
        """The input indices of every finished part."""
        done = set()
        for table in self.read_all():
            done.update(int(i) for i in table[self.index_column])
        return done

    def write(self, table):
        """Write one finished chunk."""
        self.folder.mkdir(parents=True, exist_ok=True)
        first = int(np.min(table[self.index_column])) if len(table) else 0
        return write_part(table, self.folder / f"part-{first:09d}.npz")

    def read_all(self):
        """Every finished part as a Table."""
        return [read_part(path) for path in self.files()]
