"""The ``prepare`` stage (kind ``"prepare"``, name ``"default"``): `prepare_arrays` for the
pipeline.

`prepare` turns a `~bhbfinder.batch.RawBatch` into a `~bhbfinder.batch.PreparedBatch` with
`~bhbfinder.spectra.prepare.prepare_arrays`; `PrepareStage` is that function with its
configuration, as the plugin manager registers it, and can give each row a photometric
temperature from its g − r (`bhbfinder.params.colour_teff`).
"""

from dataclasses import fields

from ..batch import REPLACES_KEY, PreparedBatch
from ..hookspecs import hookimpl
from ..params.colour_teff import load_relation, teff_phot_columns
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
    teff_phot_from_colour : bool
        Give the rows without a ``teff_phot`` of their own (from the table of files) one from
        their g − r (``mag_g``, ``mag_r``: a LAMOST header's input-catalogue magnitudes, or
        the table's), through the colour–temperature relation of
        `bhbfinder.params.colour_teff`; the meta gains ``teff_phot``, ``teff_phot_err`` and
        ``teff_phot_source``, which the params stage and the ``lamost-phot`` Balmer set read
        and the catalogue keeps (:ref:`params`, *From the files' own magnitudes*). Default off.
    colour_relation : `~bhbfinder.params.colour_teff.ColourTeffRelation`, dict or path, optional
        Default the shipped g − r relation.
    colour_error : float
        Error (mag) of an observed g − r.
    ebv_column : str or None
        Meta column of E(B − V) to deredden the colour by (with ``<ebv_column>_err``, else
        ``ebv_relative_error`` times the value); a row without one is used as observed.
    ebv_relative_error : float
    teff_phot_error : float
        Error (K) of a ``teff_phot`` given without a ``teff_phot_err``.
    """

    def __init__(self, config=None, teff_phot_from_colour=False, colour_relation=None,
                 colour_error=0.03, ebv_column="ebv", ebv_relative_error=0.16,
                 teff_phot_error=250.0):
        self.config = _as_config(config)
        self.teff_phot_from_colour = bool(teff_phot_from_colour)
        self.colour_relation = load_relation(colour_relation) if teff_phot_from_colour \
            else colour_relation
        self.colour_error = float(colour_error)
        self.ebv_column = None if ebv_column in (None, "") else str(ebv_column)
        self.ebv_relative_error = float(ebv_relative_error)
        self.teff_phot_error = float(teff_phot_error)

    def run(self, raw):
        """`prepare` ``raw`` with this stage's config (and, if asked, the colour's
        ``teff_phot``)."""
        prepared = prepare(raw, self.config)
        if self.teff_phot_from_colour:
            columns = teff_phot_columns(prepared.meta, self.colour_relation, self.colour_error,
                                        self.ebv_column, self.ebv_relative_error,
                                        self.teff_phot_error)
            for name, column in columns.items():
                prepared.meta[name] = column
            prepared.meta.meta[REPLACES_KEY] = sorted(columns)   # the table's teff_phot too
        return prepared

    def __repr__(self):
        config = self.config
        colour = ", teff_phot from g - r" if self.teff_phot_from_colour else ""
        return (f"<PrepareStage grid={config.grid.name!r} rest_frame={config.rest_frame!r}"
                f"{colour}>")


@hookimpl
def bhbfinder_register_stages():
    return [StageInfo("prepare", "default", PrepareStage,
                      "rest frame (catalogue z or template RV), flux-conserving resampling "
                      "onto the model grid, clipped Legendre continuum normalisation")]
