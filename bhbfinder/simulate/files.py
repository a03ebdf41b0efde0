"""Simulated spectra written as LAMOST files, with a truth table beside them."""

from pathlib import Path

import numpy as np

from ..errors import ConfigurationError
from ..io.base import META_KEYS
from ..io.lamost import write_lamost
from .classes import CLASSES
from .library import build_library

__all__ = ["simulate_files"]


def simulate_files(folder, spectra, layout="A", compress=False, dialect="dr6",
                   truth_name="truth.ecsv", seed=0, **library_options):
    """Write simulated spectra as LAMOST files plus a truth table.

    Parameters
    ----------
    folder : path-like
        Created if needed.
    spectra : SimulatedSpectra or int
        The spectra, or a number of spectra to simulate first with
        `~bhbfinder.simulate.build_library` (class-balanced; ``seed`` and ``library_options``
        go to it, default the analytic source).
    layout : {"A", "B"}
        LAMOST layout (A: DR1–DR8 5×N image; B: DR9+ COADD table).
    compress : bool or {"gzip", "gzip-as-fits"}
        Gzip the files (``"gzip-as-fits"``: gzip data under a ``.fits`` name).
    dialect : {"dr6", "dr1"}
        Header dialect.
    truth_name : str
        File name of the ECSV truth table (the meta table, ``file`` filled in).

    Returns
    -------
    `~astropy.table.Table`
        The truth table written.
    """
    if isinstance(spectra, (int, np.integer)):
        classes = tuple(library_options.pop("classes", CLASSES))
        per, extra = divmod(int(spectra), len(classes))
        counts = {c: per + (i < extra) for i, c in enumerate(classes)}
        spectra = build_library(n_per_class=counts, classes=classes, seed=seed,
                                **library_options)
    elif library_options:
        raise ConfigurationError(f"simulate_files: options {sorted(library_options)} only "
                                 "apply when a number of spectra is given")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".fits.gz" if compress == "gzip" or compress is True else ".fits"
    comp = "gzip" if compress is True else compress
    meta = spectra.meta.copy()
    names = []
    for i in range(len(spectra)):
        rec = spectra.record(i)
        m = rec.meta
        spid, fiber = (i // 250) % 16 + 1, i % 250 + 1
        name = f"spec-{int(m['mjd'])}-SIM{i // 4000:04d}_sp{spid:02d}-{fiber:03d}{suffix}"
        s, k = int(m["start"]), int(m["npix"])
        header_meta = {key: m.get(key) for key in META_KEYS}
        header_meta["filename"] = name
        write_lamost(folder / name, rec.wavelength, rec.flux, rec.ivar,
                     andmask=spectra.andmask[i, s:s + k], ormask=spectra.ormask[i, s:s + k],
                     meta=header_meta, layout=layout, dialect=dialect, compress=comp)
        names.append(name)
    meta["file"] = np.array(names, dtype=str)
    meta.write(folder / truth_name, format="ascii.ecsv", overwrite=True)
    return meta
