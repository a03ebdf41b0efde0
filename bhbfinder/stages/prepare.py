"""The ``prepare`` stage (kind ``"prepare"``, name ``"default"``): `prepare_arrays` for the
pipeline.

`prepare` turns a `~bhbfinder.batch.RawBatch` into a `~bhbfinder.batch.PreparedBatch` with
`~bhbfinder.spectra.prepare.prepare_arrays`; `PrepareStage` is that function with its
configuration, as the plugin manager registers it.
"""

from dataclasses import fields

from ..batch import PreparedBatch
from ..hookspecs import hookimpl
from ..spectra.prepare import _as_config, prepare_arrays
from . import StageInfo

__all__ = ["PrepareStage", "prepare", "bhbfinder_register_stages"]


def prepare(raw, config=None):
    """Prepare a raw batch for the models (`~bhbfinder.spectra.prepare.prepare_arrays`).

    Parameters
    ----------
    raw : `~bhbfinder.batch.RawBatch`
    config : `~bhbfinder.spectra.prepare.PrepareConfig` or dict, optional

    Returns
    -------
    `~bhbfinder.batch.PreparedBatch`
        On ``config.grid``; ``meta`` gains ``rv``, ``rv_err`` (km/s), ``rv_source``,
        ``rv_template``, ``rv_chi2``, ``noise_ratio`` and ``ivar_scale`` (the errors checked
        against the pixel scatter, and the factor applied to the inverse variance),
        ``snr_prepared`` (median per-pixel S/N of the good grid pixels) and ``good_fraction``;
        ``extra["continuum"]`` holds the fitted continua.
    """
    prepared = prepare_arrays(raw, config)
    return PreparedBatch(**{f.name: getattr(prepared, f.name) for f in fields(prepared)})


class PrepareStage:
    """The built-in ``prepare`` stage (kind ``"prepare"``, name ``"default"``).

    Parameters
    ----------
    config : `~bhbfinder.spectra.prepare.PrepareConfig` or dict, optional
        Default ``PrepareConfig()``.
    """

    def __init__(self, config=None):
        self.config = _as_config(config)

    def run(self, raw):
        """`prepare` ``raw`` with this stage's config."""
        return prepare(raw, self.config)

    def __repr__(self):
        config = self.config
        return f"<PrepareStage grid={config.grid.name!r} rest_frame={config.rest_frame!r}>"


@hookimpl
def bhbfinder_register_stages():
    return [StageInfo("prepare", "default", PrepareStage,
                      "rest frame (catalogue z or template RV), flux-conserving resampling "
                      "onto the model grid, clipped Legendre continuum normalisation")]
