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
from pathlib import Path

import numpy as np
from astropy.table import Column, MaskedColumn, Table

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
        import asdf

        out = Table(table, copy=False)
        out.meta = {}
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
        arrays["header"] = np.array(json.dumps(header))
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    os.replace(tmp, path)
    return path


def read_part(path):
    """Read a part written by `write_part` into a `~astropy.table.Table`."""
    path = Path(path)
    if path.suffix == ".asdf":
        import asdf

        with asdf.open(path, lazy_load=False, memmap=False) as af:
            return Table(af["part"], copy=True)
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data["header"]))
        if header.get("format") != _FORMAT:
            raise ValueError(f"{path}: not a bhbfinder part file")
        table = Table()
        for i, spec in enumerate(header["columns"]):
            kwargs = {"name": spec["name"], "unit": spec["unit"],
                      "description": spec["description"]}
            if spec["masked"]:
                table.add_column(MaskedColumn(data[f"d{i}"], mask=data[f"m{i}"], **kwargs))
            else:
                table.add_column(Column(data[f"d{i}"], **kwargs))
    return table


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
