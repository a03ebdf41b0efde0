"""A bhbfinder reader plugin for MYSPEC text spectra: a '# MYSPEC key=value ...' line, then
columns of vacuum wavelength (Å), flux and inverse variance."""

import numpy as np

from bhbfinder.hookspecs import hookimpl
from bhbfinder.io.base import Reader, SpectrumArrays


class MySpecReader(Reader):
    name = "myspec"

    def read_arrays(self, path):
        with open(path) as fh:  # the survey's own metadata: key=value after '# MYSPEC'
            extra = dict(item.split("=", 1) for item in fh.readline().split()[2:])
        wave, flux, ivar = np.loadtxt(path, unpack=True)
        meta = {"file": str(path), "reader": self.name, "survey": "MYSPEC",
                "exposure": float(extra.get("exposure", "nan")), "site": extra.get("site")}
        return SpectrumArrays(wave, flux, ivar, mask=ivar <= 0, meta=meta)


@hookimpl
def bhbfinder_get_reader(path, head):
    if head.startswith(b"# MYSPEC"):
        return MySpecReader()
