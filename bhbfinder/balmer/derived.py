"""Quantities a criteria set computes from the stage's measurements before it applies its cuts.

A `~bhbfinder.balmer.criteria.CriteriaSet` may carry small fitted models (``derived``) whose
outputs become columns of the Balmer table and can be cut on like measured ones:

`TeffModel`
    A temperature estimate from the Balmer lines alone (``teff_balmer``): a linear model of
    log10 Teff in standardised measurements (D0.2, equivalent widths and shapes of Hδ, Hγ,
    Hβ). The stage runs before the parameters stage and sees no photometry; over 7,000–12,000 K
    the estimate scatters by ~500–1,000 K (it is tied up with gravity, which also widens the
    lines), enough to let boundaries move with temperature, not to replace the SLAM estimate.
`CaKExcess`
    The Ca II K line against the line a star of ``[Fe/H] = feh_ref`` (default −0.8) shows at the
    estimated temperature (the criterion of Ju et al. 2024, LAMOST DR5 BHB stars):
    ``cak_ew_expected = exp(p0 + p1 x + p2 x²) − offset`` with ``x = log10(T) − 3.95``, and
    ``cak_excess = cak_star_ew − cak_ew_expected`` (Å); calibrated on stars of known Teff and
    [Fe/H].
`GravityIndex`
    A gravity index from the Balmer profiles (``gravity_index``): the log-odds, from a
    class-balanced logistic regression on standardised widths, depths and shapes of Hδ, Hγ,
    Hβ and the higher Balmer lines (Hε, H8, H9), that a spectrum belongs to a high-gravity A or
    B star rather than a BHB star. Each line's D0.2 and shape carry some of the gravity signal
    (Clewley et al. 2002; Xue et al. 2008); the index weighs them together, so that a star whose
    every line is a little too broad fails where each cut alone lets it pass.

Each model is plain data (`to_dict` / `from_dict`), saved with its criteria set; no pickle.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigurationError

__all__ = ["TeffModel", "CaKExcess", "GravityIndex", "DERIVED_KINDS", "derived_from_dict",
           "column_values"]


def column_values(table, name):
    """A column of ``table`` (Table or dict) as a float array, masked values as NaN."""
    if name not in (table.colnames if hasattr(table, "colnames") else table):
        raise ConfigurationError(f"column {name!r} is missing; measure it first (the Balmer "
                                 "stage with the lines it needs) or choose another set")
    return np.asarray(np.ma.filled(np.ma.asarray(table[name], dtype=float), np.nan), float)


@dataclass(frozen=True)
class _StandardisedLinear:
    """``intercept + Σ coef_j z_j`` with ``z_j = clip((x_j − center_j) / scale_j, ±clip)``: the
    linear predictor `TeffModel` and `GravityIndex` share."""

    features: tuple
    center: tuple
    scale: tuple
    coef: tuple
    intercept: float
    clip: float = 4.0

    def __post_init__(self):
        for key in ("features", "center", "scale", "coef", "meta") + self._tuple_fields:
            object.__setattr__(self, key, tuple(getattr(self, key)))
        if not len(self.features) == len(self.center) == len(self.scale) == len(self.coef):
            raise ConfigurationError(f"{type(self).__name__}: features, center, scale and coef "
                                     "must have the same length")

    _tuple_fields = ()

    @property
    def inputs(self):
        return self.features

    def linear(self, table):
        """The linear predictor of every row of ``table`` (NaN where an input is)."""
        X = np.stack([column_values(table, f) for f in self.features], axis=-1)
        z = np.clip((X - np.asarray(self.center)) / np.asarray(self.scale), -self.clip, self.clip)
        return self.intercept + z @ np.asarray(self.coef)

    def _linear_dict(self):
        return {"kind": self.kind, "name": self.name, "features": list(self.features),
                "center": [float(v) for v in self.center],
                "scale": [float(v) for v in self.scale],
                "coef": [float(v) for v in self.coef], "intercept": float(self.intercept),
                "clip": float(self.clip), "meta": [list(m) for m in self.meta]}


@dataclass(frozen=True)
class TeffModel(_StandardisedLinear):
    """``Teff = 10 ** (intercept + Σ coef_j z_j)``, ``z_j = clip((x_j − center_j) / scale_j)``.

    Parameters
    ----------
    features : tuple of str
        Input columns.
    center, scale, coef : tuple of float
        One per feature.
    intercept : float
    clip : float
        Standardised inputs are clipped to ±clip.
    name : str
        Output column.
    valid_range : (float, float)
        Output clipped to this range (K).
    meta : dict
        How it was fitted.
    """

    name: str = "teff_balmer"
    valid_range: tuple = (6000.0, 20000.0)
    meta: tuple = ()

    kind = "teff_linear"
    _tuple_fields = ("valid_range",)

    @property
    def outputs(self):
        return {self.name: ("K", "Teff estimated from the Balmer lines alone (linear model of "
                                 "log10 Teff; scatter ~500-1000 K)")}

    def compute(self, table):
        return {self.name: np.clip(10 ** self.linear(table), *self.valid_range)}

    def to_dict(self):
        return dict(self._linear_dict(), valid_range=[float(v) for v in self.valid_range])

    @classmethod
    def from_dict(cls, d):
        return cls(tuple(d["features"]), tuple(d["center"]), tuple(d["scale"]), tuple(d["coef"]),
                   float(d["intercept"]), float(d.get("clip", 4.0)), d.get("name", "teff_balmer"),
                   tuple(d.get("valid_range", (6000.0, 20000.0))),
                   tuple(tuple(m) for m in d.get("meta", ())))


@dataclass(frozen=True)
class CaKExcess:
    """Stellar Ca II K against the K line of a ``[Fe/H] = feh_ref`` star at the same Teff.

    Parameters
    ----------
    coef : (p0, p1, p2)
        ``ln(EW + offset)`` at ``feh_ref`` as a quadratic in ``x = log10(Teff) − 3.95``.
    offset : float
        Å (keeps the logarithm defined for weak lines).
    feh_ref : float
        The metallicity the expectation refers to.
    teff_column, ew_column : str
        Inputs: the temperature estimate and the stellar K equivalent width.
    name, expected_name : str
        Outputs: the excess and the expectation (Å).
    """

    coef: tuple
    offset: float = 0.3
    feh_ref: float = -0.8
    teff_column: str = "teff_balmer"
    ew_column: str = "cak_star_ew"
    name: str = "cak_excess"
    expected_name: str = "cak_ew_expected"
    meta: tuple = ()

    kind = "cak_excess"

    def __post_init__(self):
        object.__setattr__(self, "coef", tuple(float(c) for c in self.coef))
        object.__setattr__(self, "meta", tuple(self.meta))
        if len(self.coef) != 3:
            raise ConfigurationError("CaKExcess: coef must be (p0, p1, p2)")

    @property
    def inputs(self):
        return (self.teff_column, self.ew_column)

    @property
    def outputs(self):
        return {self.expected_name: ("Angstrom", f"Ca II K equivalent width of a star of [Fe/H] "
                                                 f"= {self.feh_ref:g} at teff_balmer"),
                self.name: ("Angstrom", f"{self.ew_column} minus {self.expected_name}: positive "
                                        f"= more metal-rich than [Fe/H] = {self.feh_ref:g}")}

    def expected(self, teff):
        """The K equivalent width (Å) of a ``feh_ref`` star at ``teff`` (K)."""
        x = np.log10(np.asarray(teff, dtype=float)) - 3.95
        p0, p1, p2 = self.coef
        return np.exp(p0 + p1 * x + p2 * x * x) - self.offset

    def compute(self, table):
        expected = self.expected(column_values(table, self.teff_column))
        return {self.expected_name: expected,
                self.name: column_values(table, self.ew_column) - expected}

    def to_dict(self):
        return {"kind": self.kind, "coef": list(self.coef), "offset": float(self.offset),
                "feh_ref": float(self.feh_ref), "teff_column": self.teff_column,
                "ew_column": self.ew_column, "name": self.name,
                "expected_name": self.expected_name, "meta": [list(m) for m in self.meta]}

    @classmethod
    def from_dict(cls, d):
        return cls(tuple(d["coef"]), float(d.get("offset", 0.3)), float(d.get("feh_ref", -0.8)),
                   d.get("teff_column", "teff_balmer"), d.get("ew_column", "cak_star_ew"),
                   d.get("name", "cak_excess"), d.get("expected_name", "cak_ew_expected"),
                   tuple(tuple(m) for m in d.get("meta", ())))


@dataclass(frozen=True)
class GravityIndex(_StandardisedLinear):
    """``index = intercept + Σ coef_j z_j``, ``z_j = clip((x_j − center_j) / scale_j)``.

    The log-odds (natural logarithm) that a spectrum is a high-gravity A or B star rather than
    a BHB star, from a logistic regression on Balmer-profile measurements
    (`bhbfinder.balmer.derive.fit_gravity_index`). Larger is higher gravity; NaN where an input
    is undefined.

    Parameters
    ----------
    features : tuple of str
        Input columns.
    center, scale, coef : tuple of float
        One per feature.
    intercept : float
    clip : float
        Standardised inputs are clipped to ±clip.
    name : str
        Output column.
    meta : tuple
        How it was fitted.
    """

    name: str = "gravity_index"
    meta: tuple = ()

    kind = "logistic_index"

    @property
    def outputs(self):
        return {self.name: ("", "log-odds that the Balmer profiles are those of a high-gravity "
                                "A/B star rather than a BHB star (logistic regression)")}

    def compute(self, table):
        return {self.name: self.linear(table)}

    def to_dict(self):
        return self._linear_dict()

    @classmethod
    def from_dict(cls, d):
        return cls(tuple(d["features"]), tuple(d["center"]), tuple(d["scale"]), tuple(d["coef"]),
                   float(d["intercept"]), float(d.get("clip", 4.0)),
                   d.get("name", "gravity_index"), tuple(tuple(m) for m in d.get("meta", ())))


#: Kinds of derived quantities, by their ``kind`` tag.
DERIVED_KINDS = {TeffModel.kind: TeffModel, CaKExcess.kind: CaKExcess,
                 GravityIndex.kind: GravityIndex}


def derived_from_dict(d):
    """Rebuild a derived-quantity model from its `to_dict` output."""
    kind = d.get("kind")
    if kind not in DERIVED_KINDS:
        raise ConfigurationError(f"unknown derived quantity kind {kind!r}; known: "
                                 f"{', '.join(DERIVED_KINDS)}")
    return DERIVED_KINDS[kind].from_dict(d)
