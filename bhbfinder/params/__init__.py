"""SLAM-style atmospheric parameters (Teff, log g, [Fe/H]) from normalised spectra.

`~bhbfinder.params.emulator.SlamEmulator`
    the estimator: a kernel emulator of every pixel at once, inverted for many spectra at once.
`~bhbfinder.params.kernel`, `~bhbfinder.params.label_fit`, `~bhbfinder.params.modelfile`
    its kernel and hyper-parameter tuning, its inversion of spectra to labels, its model file.
`~bhbfinder.params.svr_reference.SvrSlam`
    a faithful per-pixel SVR reference of SLAM (Zhang, Liu & Deng 2020), for tests and comparison.
`~bhbfinder.params.extinction`
    the reddening of the colours a colour-trained model is given.
`~bhbfinder.params.colour_teff`
    a photometric temperature (``teff_phot``) from g − r, as the ``prepare`` stage makes it.
`~bhbfinder.params.uncertainty.ErrorModel`
    label errors calibrated on held-out stars (stored in the model file).
`~bhbfinder.stages.params.ParamsStage`
    the pipeline's ``params`` stage (name ``slam-emulator``).
"""

from .emulator import LABEL_NAMES, SlamEmulator

__all__ = ["SlamEmulator", "LABEL_NAMES"]
