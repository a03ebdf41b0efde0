"""A bhbfinder reader plugin for MYSPEC text spectra: a '# MYSPEC' line, then columns of
vacuum wavelength (Å), flux and inverse variance."""

import numpy as np

from bhbfinder.hookspecs import hookimpl
from bhbfinder.io.base import Reader, SpectrumArrays


class MySpecReader(Reader):
    name = "myspec"

    def read_arrays(self, path):
        wave, flux, ivar = np.loadtxt(path, unpack=True)
        meta = {"file": str(path), "reader": self.name, "survey": "MYSPEC"}
        return SpectrumArrays(wave, flux, ivar, mask=ivar <= 0, meta=meta)


@hookimpl
def bhbfinder_get_reader(path, head):
    if head.startswith(b"# MYSPEC"):
        return MySpecReader()
