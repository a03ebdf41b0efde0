"""A photometric temperature from a star's g − r: the relation, and the columns it fills.

The Balmer lines give a hot star two temperatures on either side of the Balmer maximum; a
colour gives one (:ref:`params`, *A photometric temperature*). Where a spectrum's file carries
its target's magnitudes (LAMOST headers do: ``mag_g``, ``mag_r`` from
`bhbfinder.io.lamost.header_magnitudes`), or a table of files gives them, `teff_phot_columns`
turns g − r into the ``teff_phot`` and ``teff_phot_err`` columns the params stage and the
``lamost-phot`` Balmer set read (and the catalogue keeps). The ``prepare`` stage does it when asked
(``PrepareStage(teff_phot_from_colour=True)``, ``--set prepare.teff_phot_from_colour=true``).

The relation (`G_R_RELATION`, `ColourTeffRelation`) is ``log10 Teff = cubic(g − r)``, fitted
by ``scripts/derive_colour_teff.py`` on the synthetic SDSS g − r of the flux-calibrated MILES
spectra (Sánchez-Blázquez et al. 2006; Falcón-Barroso et al. 2011) of the real stars of
6,800–13,000 K, with the SDSS filter curves of Doi et al. (2010) (as the ``speclite`` package
ships them), and their catalogue Teff; doubtful stars and catalogue temperatures the audit
finds contradicted (`bhbfinder.training.heldout.LABEL_AUDIT`) are left out, and so are the
supergiants and post-AGB stars (log g < 2.5), reddened and off the relation. Its error is the
robust scatter of the stars' colours about it, 0.045 mag, through its slope: about 200 K at
7,000–8,500 K, 600 K at 8,500–10,000 K and 1,100 K above (as the stars' Teff residuals
scatter). The same fit, made for each held-out fold on the other folds' stars, is the colour
stand-in of the held-out evaluation (:ref:`heldout`, *Given a photometric temperature*).

Two cautions. The MILES colours are not dereddened (the stars are nearby; their reddening is
part of the scatter), so a star's colour is used as given unless an ``ebv`` column says how
reddened it is (then :math:`E(g-r) = 1.018\\,E(B-V)`, Schlafly & Finkbeiner 2011, and the
reddening's error adds to the colour's). And the relation is fitted mostly on stars of near-solar
metallicity, redder at the same temperature than metal-poor stars: it reads the BHB stars
200–850 K too hot.
"""

import json
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
from astropy.table import MaskedColumn

from ..errors import ConfigurationError
from ..io.base import meta_numbers
from .extinction import reddening_coefficient

__all__ = ["ColourTeffRelation", "G_R_RELATION", "load_relation", "teff_phot_columns"]

#: The shipped relation's file in ``bhbfinder/data``.
_RELATION_FILE = "colour_teff_g_r.json"


@dataclass(frozen=True)
class ColourTeffRelation:
    """``log10 Teff = polynomial(colour)`` within the colours it was fitted on.

    Parameters
    ----------
    colour : str
        The colour's name, two bands (``"g_r"``).
    coefficients : tuple of float
        Of ``log10 Teff`` in the colour, highest power first (`numpy.polyval`).
    colour_range : (float, float)
        The colours of the stars fitted; outside them the relation gives no Teff.
    colour_scatter : float
        Robust scatter (1.4826 MAD, mag) of the fitted stars' colours about the relation at
        their catalogue Teff: the relation's error, as a colour (reddening and flux
        calibration make most of it), so that its error in Teff follows the relation's slope:
        small for F and cool A stars, large for late-B stars, whose g − r hardly changes.
    meta : dict
        How it was derived.

    Examples
    --------
    >>> import numpy as np
    >>> rel = ColourTeffRelation("g_r", (0.0, 0.0, -0.5, 3.9), (-0.4, 0.3), 0.04)
    >>> teff, err = rel.teff([0.0, 1.0])        # 1.0 lies outside the fitted colours
    >>> round(float(teff[0])), round(float(err[0])), bool(np.isnan(teff[1]))
    (7943, 366, True)
    >>> round(float(rel.teff(0.0, colour_err=0.03)[1]))
    457
    """

    colour: str
    coefficients: tuple
    colour_range: tuple
    colour_scatter: float
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def teff(self, colour, colour_err=0.0):
        """Teff (K) and its error at ``colour``; NaN outside `colour_range` or where the
        colour is not finite.

        The error is the relation's slope times the colour's error and `colour_scatter`
        added in quadrature: ``|dTeff/dcolour| · sqrt(colour_scatter² + colour_err²)``.
        """
        c = np.asarray(colour, float)
        lo, hi = self.colour_range
        with np.errstate(invalid="ignore"):
            inside = np.isfinite(c) & (c >= lo) & (c <= hi)
        x = np.where(inside, c, 0.5 * (lo + hi))
        coef = np.asarray(self.coefficients, float)
        teff = 10.0 ** np.polyval(coef, x)
        slope = teff * np.log(10.0) * np.polyval(np.polyder(coef), x)
        ce = np.nan_to_num(np.asarray(colour_err, float), nan=0.0)
        err = np.abs(slope) * np.sqrt(self.colour_scatter ** 2 + ce ** 2)
        return np.where(inside, teff, np.nan), np.where(inside, err, np.nan)

    def to_dict(self):
        return {"format": "bhbfinder-colour-teff", "version": 1, "colour": self.colour,
                "coefficients": [float(v) for v in self.coefficients],
                "colour_range": [float(v) for v in self.colour_range],
                "colour_scatter": float(self.colour_scatter), "meta": self.meta}

    @classmethod
    def from_dict(cls, d):
        if d.get("format") != "bhbfinder-colour-teff":
            raise ConfigurationError("not a colour-Teff relation (format "
                                     f"{d.get('format')!r}, expected 'bhbfinder-colour-teff')")
        return cls(str(d["colour"]), tuple(float(v) for v in d["coefficients"]),
                   tuple(float(v) for v in d["colour_range"]), float(d["colour_scatter"]),
                   dict(d.get("meta") or {}))


#: The shipped g − r relation (``bhbfinder/data/colour_teff_g_r.json``).
G_R_RELATION = ColourTeffRelation.from_dict(json.loads(
    resources.files("bhbfinder.data").joinpath(_RELATION_FILE).read_text()))


def load_relation(relation=None):
    """A `ColourTeffRelation`: the shipped g − r relation (None), a relation, a dict of one
    (`ColourTeffRelation.to_dict`) or the path of a JSON file holding one."""
    if relation is None:
        return G_R_RELATION
    if isinstance(relation, ColourTeffRelation):
        return relation
    if isinstance(relation, dict):
        return ColourTeffRelation.from_dict(relation)
    try:
        with open(relation) as f:
            return ColourTeffRelation.from_dict(json.load(f))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read a colour-Teff relation from {relation!r}: "
                                 f"{exc}") from None


def _numbers(meta, name):
    return meta_numbers(meta, name, "teff_phot from g - r")


def teff_phot_columns(meta, relation=None, colour_error=0.03, ebv_column="ebv",
                      ebv_relative_error=0.16, teff_phot_error=250.0):
    """``teff_phot``, ``teff_phot_err`` and ``teff_phot_source`` for a batch's meta table.

    A row keeps a ``teff_phot`` it already has (a finite, positive value, with its
    ``teff_phot_err`` where given, else ``teff_phot_error``; source ``"table"``); any other
    row gets the relation's Teff from ``mag_g − mag_r`` (source ``"g_r"``), dereddened by the
    ``ebv_column`` where that column has a value, or none (NaN, masked; source ``""``).

    Parameters
    ----------
    meta : `~astropy.table.Table`
        With ``mag_g`` and ``mag_r`` (rows or columns without them get no colour Teff).
    relation : `ColourTeffRelation`, dict or path, optional
        Default the shipped `G_R_RELATION`.
    colour_error : float
        Error (mag) of an observed g − r (the headers carry none; 0.03 mag is typical of
        SDSS or Pan-STARRS photometry of stars of magnitude 15–17).
    ebv_column : str or None
        Column of E(B − V) (SFD scale); its error from ``<ebv_column>_err`` where that exists,
        else ``ebv_relative_error`` times the value.
    ebv_relative_error : float
    teff_phot_error : float
        Error (K) of a given ``teff_phot`` without a ``teff_phot_err`` (the params stage's
        default, 250 K).

    Returns
    -------
    dict
        ``{"teff_phot": MaskedColumn, "teff_phot_err": MaskedColumn, "teff_phot_source":
        MaskedColumn}``, one row per row of ``meta``.
    """
    rel = load_relation(relation)
    given = _numbers(meta, "teff_phot")
    given_err = (_numbers(meta, "teff_phot_err") if "teff_phot_err" in meta.colnames
                 else np.full(len(meta), float(teff_phot_error)))
    with np.errstate(invalid="ignore"):
        from_table = np.isfinite(given) & (given > 0)
    colour = _numbers(meta, "mag_g") - _numbers(meta, "mag_r")
    colour_err = np.full(len(meta), float(colour_error))
    if ebv_column and ebv_column in meta.colnames:
        ebv = _numbers(meta, ebv_column)
        ebv_err = (_numbers(meta, ebv_column + "_err") if ebv_column + "_err" in meta.colnames
                   else ebv_relative_error * np.abs(ebv))
        k = reddening_coefficient(rel.colour)
        has = np.isfinite(ebv)
        colour = np.where(has, colour - k * np.where(has, ebv, 0.0), colour)
        colour_err = np.hypot(colour_err, k * np.where(has, np.nan_to_num(ebv_err), 0.0))
    teff, err = rel.teff(colour, colour_err)
    from_colour = ~from_table & np.isfinite(teff)
    value = np.where(from_table, given, teff)
    error = np.where(from_table, given_err, err)
    source = np.where(from_table, "table", np.where(from_colour, "g_r", ""))
    none = ~(from_table | from_colour)
    return {
        "teff_phot": MaskedColumn(value, mask=none, unit="K", description=(
            "photometric Teff: as given in the table of files, else from g - r "
            "(bhbfinder.params.colour_teff)")),
        "teff_phot_err": MaskedColumn(error, mask=none | ~np.isfinite(error), unit="K",
                                      description="uncertainty of teff_phot"),
        "teff_phot_source": MaskedColumn(source.astype("U5"), mask=none, description=(
            "where teff_phot comes from: 'table' (given) or 'g_r' (the colour relation)")),
    }
