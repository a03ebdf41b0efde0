"""The inputs of a run: what a ``source`` stands for, in a deterministic order.

`expand_source` takes what `~bhbfinder.find_bhb` accepts (a folder, a glob, a file, a list of
paths, spectra in memory, a table with a path column) and turns it into the list of inputs;
paths are expanded by `bhbfinder.io.read.iter_paths`, the package's one input expansion.
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from ..errors import ConfigurationError
from ..io.base import SpectrumArrays
from ..io.read import iter_paths

__all__ = ["expand_source"]


@dataclass
class _Item:
    """One input: a path, or an in-memory spectrum as arrays."""

    name: str
    arrays: object = None


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
        for name in ("path", "file", "filename"):
            if name in source.colnames:
                return [_Item(str(p)) for p in source[name]]
        raise ConfigurationError(
            f"the source table has no path column (looked for path, file, filename; "
            f"it has {source.colnames})"
        )
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
