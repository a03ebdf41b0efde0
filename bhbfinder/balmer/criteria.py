"""Balmer-line criteria sets: named, documented boxes in the measured quantities.

A `CriteriaSet` is a list of `Cut` objects on output columns of the Balmer stage (e.g.
``hgamma_b``) plus the quality flags that reject a line outright. Sets are registered by name
(`register_criteria`, `get_criteria`), saved as JSON or ASDF (`CriteriaSet.save`,
`load_criteria`; no pickle) and can be derived from labelled data (`derive_criteria`).

Built-in sets
-------------
``"lamost"`` (the default of the Balmer stage)
    Derived for LAMOST low-resolution spectra from labelled real stars: the BHB, A and B stars
    of MILES (Sánchez-Blázquez et al. 2006; Falcón-Barroso et al. 2011) and the SDSS stellar
    templates, rendered through the package's instrument model at blue-arm FWHM 2–4 Å and
    S/N 8–80 (`bhbfinder.training.heldout`), measured by the stage with the resolution assumed
    (as for LAMOST files, which record none), and fitted by
    `~bhbfinder.balmer.derive.derive_teff_criteria`: bounds on Hδ and Hγ D0.2, the
    resolution-corrected Hγ and Hδ shapes *c*, H8 D0.2, the Ca II K excess over a star of
    [Fe/H] = −0.8 (Ju et al. 2024) and a gravity index (the log-odds of a high-gravity A or B
    star from the widths, depths and shapes of six Balmer lines taken together), each moving
    with the Balmer-line temperature estimate ``teff_balmer``. The set's ``meta`` records how
    it was derived and its scores on held-out stars (``scripts/derive_balmer_lamost.py``
    rebuilds it).
``"lamost-phot"``
    The ``"lamost"`` cuts and an upper bound on the metallic-line index (``metal_index``), with
    every bound moving with a temperature from photometry, the column ``teff_phot`` (K) the
    user gives (in the table of files, which reaches the stage as batch meta), instead of
    ``teff_balmer``; derived on the same renderings with the catalogue Teff offset by a 250 K
    error per star (``scripts/derive_balmer_lamost.py --photometric``). A spectrum without
    ``teff_phot`` is not confirmed.
``"xue2008"``
    The classical BHB box of Xue et al. (2008, ApJ 684, 1143; also Xue et al. 2011, ApJ 738, 79),
    after Sirko et al. (2004, AJ 127, 899) and Clewley et al. (2002, MNRAS 337, 87):
    Hδ 17 Å ≤ D0.2 ≤ 28.5 Å and 0.1 ≤ fm ≤ 0.3; Hγ 0.75 ≤ c ≤ 1.25 and 7.5 Å ≤ b ≤ 10.5 Å, kept
    as published for reproductions. It was calibrated on SDSS spectra with those papers' own
    continuum and fitting; on LAMOST-like renderings its verdicts move with the resolution (see
    the docs). D0.2 and fm are taken from the fitted profile (``hdelta_d02``, ``hdelta_fm``),
    which is robust to noise; ``*_data`` columns hold the same measures on the data.
``"xue2008-hdelta"``, ``"xue2008-hgamma"``
    The Hδ (D0.2, fm) and Hγ (c, b) halves of ``"xue2008"`` on their own.
``"cak-screen"``
    A fixed metallicity screen: Ca II K equivalent width (K12 band, Beers et al. 1999, AJ 117,
    981) ``cak_ew ≤`` `CAK_EW_MAX` Å, the idea of Ju et al. (2024) with a single threshold
    (configurable): metal-poor halo BHB stars ([Fe/H] ≲ −1) have weak K lines, solar-metallicity
    A stars cooler than ~9000 K strong ones; hot metal-rich A0 stars also have weak K lines, which
    the temperature-dependent ``cak_excess`` of ``"lamost"`` accounts for.
``"xue2008+cak"``
    ``"xue2008"`` and ``"cak-screen"`` together.
"""

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import asdf
import numpy as np

from .._data import data_path
from .._tree import open_plain_asdf, plain_tree
from ..errors import ConfigurationError
from . import flags as F
from .derived import derived_from_dict

__all__ = ["Cut", "CriteriaSet", "CRITERIA", "CAK_EW_MAX", "DEFAULT_REJECT_FLAGS",
           "register_criteria", "get_criteria", "load_criteria", "derive_criteria"]

#: Flags that fail a line whatever its numbers.
DEFAULT_REJECT_FLAGS = F.NOT_COVERED | F.MASKED | F.NOT_CONVERGED | F.EMISSION | F.BAD_ROW

#: Upper limit of the Ca II K equivalent width of ``"cak-screen"``, Å (a configurable default).
CAK_EW_MAX = 3.0

FORMAT_VERSION = 1


def _num(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


@dataclass(frozen=True)
class Cut:
    """One condition ``low ≤ table[column] ≤ high`` (either bound may be ``None``).

    The bounds may depend on another column (``by``, e.g. the temperature estimate
    ``teff_balmer``): then ``low`` and ``high`` hold one value per entry of ``knots`` (values of
    ``by``), and the bound of each row is interpolated linearly between the knots (constant
    beyond them).

    Parameters
    ----------
    column : str
        An output column of the Balmer stage, e.g. ``"hgamma_b"``. Its line prefix (before
        the first ``_``) names the ``<prefix>_flags`` column checked with the set's
        ``reject_flags``.
    low, high : float, sequence of float, or None
        Inclusive bounds (sequences with ``by``).
    unit : str
        Unit of the bounds, for the record (``"Angstrom"`` or ``""``).
    by : str, optional
        The column the bounds depend on.
    knots : sequence of float, optional
        Values of ``by`` at which ``low`` / ``high`` are given (increasing).
    why_low, why_high : str
        What failing the lower / upper bound means, in words a user can act on (used by
        `reason`; a generic text otherwise).
    """

    column: str
    low: object = None
    high: object = None
    unit: str = ""
    by: str | None = None
    knots: tuple | None = None
    why_low: str = ""
    why_high: str = ""

    def __post_init__(self):
        if self.low is None and self.high is None:
            raise ConfigurationError(f"cut on {self.column!r}: give low, high or both")
        if self.by is None:
            if self.knots is not None or isinstance(self.low, list | tuple) or \
                    isinstance(self.high, list | tuple):
                raise ConfigurationError(f"cut on {self.column!r}: bounds at knots need "
                                         "by=<column>")
            if self.low is not None and self.high is not None and self.low > self.high:
                raise ConfigurationError(
                    f"cut on {self.column!r}: low {self.low} is above high {self.high}; swap "
                    "them")
            return
        if self.knots is None or len(self.knots) < 1:
            raise ConfigurationError(f"cut on {self.column!r} by {self.by!r}: give knots")
        knots = tuple(float(k) for k in self.knots)
        if any(b <= a for a, b in zip(knots, knots[1:], strict=False)):
            raise ConfigurationError(f"cut on {self.column!r}: knots must increase")
        object.__setattr__(self, "knots", knots)
        for key in ("low", "high"):
            value = getattr(self, key)
            if value is None:
                continue
            value = tuple(float(v) for v in np.broadcast_to(np.asarray(value, float),
                                                            (len(knots),)))
            object.__setattr__(self, key, value)
        if self.low is not None and self.high is not None and \
                any(lo > hi for lo, hi in zip(self.low, self.high, strict=True)):
            raise ConfigurationError(f"cut on {self.column!r}: a low bound is above its high "
                                     "bound; swap them")

    @property
    def line(self):
        """The line prefix of the column (``"hgamma"`` for ``"hgamma_b"``)."""
        return self.column.split("_", 1)[0]

    @property
    def columns(self):
        """The columns the cut reads."""
        return (self.column,) if self.by is None else (self.column, self.by)

    def bounds(self, by_values=None, n=None):
        """Lower and upper bound per row (NaN where a side is open).

        Parameters
        ----------
        by_values : array-like, optional
            Values of ``by`` (needed when the cut depends on it).
        n : int, optional
            Rows (for cuts without ``by``).
        """
        if self.by is None:
            n = 1 if n is None else n
            lo = np.full(n, np.nan if self.low is None else float(self.low))
            hi = np.full(n, np.nan if self.high is None else float(self.high))
            return lo, hi
        x = np.asarray(np.ma.filled(np.ma.asarray(by_values, dtype=float), np.nan), float)

        def at(values):
            if values is None:
                return np.full(x.shape, np.nan)
            out = np.interp(x, self.knots, values)
            return np.where(np.isfinite(x), out, np.nan)

        return at(self.low), at(self.high)

    def passes(self, values, by_values=None):
        """Boolean array: which values satisfy the cut (NaN never does)."""
        v = np.asarray(np.ma.filled(np.ma.asarray(values, dtype=float), np.nan), dtype=float)
        lo, hi = self.bounds(by_values, n=v.size)
        lo, hi = lo.reshape(v.shape), hi.reshape(v.shape)
        ok = np.isfinite(v)
        with np.errstate(invalid="ignore"):
            if self.low is not None:
                ok &= v >= lo
            if self.high is not None:
                ok &= v <= hi
        return ok

    def reason(self, value, by_value=None):
        """Why ``value`` fails the cut, in words, ending with the numbers."""
        lo, hi = (float(b[0]) for b in self.bounds(None if by_value is None else [by_value]))
        return self._format(value, lo, hi, by_value)

    def _format(self, value, lo, hi, by_value=None):
        if value is None or not np.isfinite(value):
            return f"{self.column} undefined"
        at = "" if self.by is None or by_value is None or not np.isfinite(by_value) else \
            f" at {self.by}={by_value:.4g}"
        if self.low is not None and np.isfinite(lo) and value < lo:
            numbers = f"{self.column}={value:.3g}<{lo:.3g}{at}"
            return f"{self.why_low} ({numbers})" if self.why_low else numbers
        if self.by is not None and not np.isfinite(hi) and not np.isfinite(lo):
            return f"{self.column}: {self.by} undefined"
        numbers = f"{self.column}={value:.3g}>{hi:.3g}{at}"
        return f"{self.why_high} ({numbers})" if self.why_high else numbers

    def __str__(self):
        unit = f" {self.unit}" if self.unit else ""
        if self.by is None:
            lo = "" if self.low is None else f"{self.low:g} <= "
            hi = "" if self.high is None else f" <= {self.high:g}"
            return f"{lo}{self.column}{hi}{unit}"
        span = f"{self.by} {self.knots[0]:g}..{self.knots[-1]:g}"
        lo = "" if self.low is None else \
            f"[{', '.join(f'{v:.3g}' for v in self.low)}] <= "
        hi = "" if self.high is None else \
            f" <= [{', '.join(f'{v:.3g}' for v in self.high)}]"
        return f"{lo}{self.column}{hi}{unit} (by {span})"

    def to_dict(self):
        out = {"column": self.column, "unit": self.unit}
        if self.by is None:
            out.update(low=_num(self.low), high=_num(self.high))
        else:
            out.update(low=None if self.low is None else list(self.low),
                       high=None if self.high is None else list(self.high),
                       by=self.by, knots=list(self.knots))
        if self.why_low:
            out["why_low"] = self.why_low
        if self.why_high:
            out["why_high"] = self.why_high
        return out

    @classmethod
    def from_dict(cls, c):
        def bound(v):
            return tuple(v) if isinstance(v, list | tuple) else v

        return cls(c["column"], bound(c.get("low")), bound(c.get("high")), c.get("unit", ""),
                   c.get("by"), None if c.get("knots") is None else tuple(c["knots"]),
                   c.get("why_low", ""), c.get("why_high", ""))


@dataclass(frozen=True)
class CriteriaSet:
    """A named set of cuts that a confirmed BHB star passes, all of them.

    Parameters
    ----------
    name : str
    cuts : tuple of Cut
    description : str
        What the set is and where its numbers come from.
    references : tuple of str
    reject_flags : int
        Quality flags (`bhbfinder.balmer.flags`) that fail a line the set uses.
    meta : dict
        Provenance (e.g. what a derived set was fitted on, its purity and completeness).
    derived : tuple
        Models (`bhbfinder.balmer.derived`) whose outputs (e.g. ``teff_balmer``,
        ``cak_excess``) are computed from the measurements before the cuts, and added to the
        stage's table.

    Examples
    --------
    >>> from bhbfinder.balmer import get_criteria
    >>> print(get_criteria("xue2008-hgamma"))
    xue2008-hgamma: 0.75 <= hgamma_c <= 1.25; 7.5 <= hgamma_b <= 10.5 Angstrom
    """

    name: str
    cuts: tuple
    description: str = ""
    references: tuple = ()
    reject_flags: int = DEFAULT_REJECT_FLAGS
    meta: dict = field(default_factory=dict, compare=False)
    derived: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "cuts", tuple(self.cuts))
        object.__setattr__(self, "references", tuple(self.references))
        object.__setattr__(self, "derived", tuple(self.derived))
        if not self.cuts:
            raise ConfigurationError(f"criteria set {self.name!r} has no cuts")

    def __str__(self):
        return f"{self.name}: " + "; ".join(str(c) for c in self.cuts)

    @property
    def columns(self):
        """The columns the cuts read (with the ``by`` columns)."""
        return tuple(dict.fromkeys(k for c in self.cuts for k in c.columns))

    @property
    def derived_columns(self):
        """``{name: (unit, description)}`` of the columns the ``derived`` models add."""
        out = {}
        for model in self.derived:
            out.update(model.outputs)
        return out

    @property
    def measured_columns(self):
        """The stage columns the set reads: cut and ``by`` columns and the inputs of its
        derived models, less the derived outputs."""
        wanted = list(self.columns) + [k for m in self.derived for k in m.inputs]
        return tuple(k for k in dict.fromkeys(wanted) if k not in self.derived_columns)

    @property
    def lines(self):
        """The line prefixes the set needs (e.g. ``("hdelta", "hgamma")``)."""
        return tuple(dict.fromkeys(k.split("_", 1)[0] for k in self.measured_columns))

    def __and__(self, other):
        return CriteriaSet(f"{self.name}+{other.name}", self.cuts + other.cuts,
                           f"{self.description}\n\n{other.description}".strip(),
                           self.references + other.references,
                           self.reject_flags | other.reject_flags,
                           derived=self.derived + tuple(d for d in other.derived
                                                        if d not in self.derived))

    def derive_columns(self, table):
        """The outputs of the set's derived models on ``table`` (dict of arrays)."""
        values = {}
        for model in self.derived:
            view = _Overlay(table, values)
            values.update(model.compute(view))
        return values

    def evaluate(self, table, derived=None):
        """Apply the set to a table of Balmer measurements.

        Parameters
        ----------
        table : `~astropy.table.Table` or dict of arrays
            Holding every column in `columns` (and ``<line>_flags`` where present).
        derived : dict, optional
            The output of `derive_columns` on ``table``, if already computed.

        Returns
        -------
        confirmed : ndarray of bool
        reason : ndarray of str
            ``""`` where confirmed, else the failed cuts and flags joined by ``"; "``.
        """
        missing = [c for c in self.measured_columns if c not in _colnames(table)]
        if missing:
            raise ConfigurationError(
                f"criteria set {self.name!r} needs column(s) {', '.join(missing)}; measure "
                "those lines (BalmerStage(lines=...)) or choose another set")
        if derived is None:
            derived = self.derive_columns(table) if self.derived else {}
        view = _Overlay(table, derived)
        n = len(view[self.measured_columns[0]])
        reasons = [[] for _ in range(n)]
        confirmed = np.ones(n, bool)
        for line in self.lines:
            key = f"{line}_flags"
            if key not in _colnames(table):
                continue
            flg = np.asarray(np.ma.filled(np.ma.asarray(table[key]), F.BAD_ROW), dtype=np.int64)
            bad = (flg & self.reject_flags) != 0
            confirmed &= ~bad
            for i in np.flatnonzero(bad):
                reasons[i].append(flag_reason(line, int(flg[i]) & self.reject_flags))
        flagged = ~confirmed
        for cut in self.cuts:
            values = np.ma.filled(np.ma.asarray(view[cut.column], dtype=float), np.nan)
            by = None if cut.by is None else \
                np.ma.filled(np.ma.asarray(view[cut.by], dtype=float), np.nan)
            ok = cut.passes(values, by)
            confirmed &= ok
            lo, hi = cut.bounds(by, n=n)
            for i in np.flatnonzero(~ok):
                # flagged lines already carry their reason; no need for "undefined" on top
                if flagged[i] and not (np.isfinite(values[i]) and (by is None or
                                                                  np.isfinite(by[i]))):
                    continue
                reasons[i].append(cut._format(float(values[i]), lo[i], hi[i],
                                              None if by is None else float(by[i])))
        reason = np.array(["; ".join(r) for r in reasons], dtype=object).astype(str) \
            if n else np.array([], "U1")
        return confirmed, reason

    def to_dict(self):
        """A JSON-ready dict (``from_dict`` inverts it)."""
        return {"format": "bhbfinder.balmer.criteria", "version": FORMAT_VERSION,
                "name": self.name, "description": self.description,
                "references": list(self.references), "reject_flags": int(self.reject_flags),
                "cuts": [c.to_dict() for c in self.cuts], "meta": plain_tree(self.meta),
                "derived": [d.to_dict() for d in self.derived]}

    @classmethod
    def from_dict(cls, data):
        """Build a set from `to_dict` output."""
        if data.get("format") != "bhbfinder.balmer.criteria":
            raise ConfigurationError("not a bhbfinder criteria set (missing "
                                     "format='bhbfinder.balmer.criteria')")
        cuts = tuple(Cut.from_dict(c) for c in data["cuts"])
        return cls(data["name"], cuts, data.get("description", ""),
                   tuple(data.get("references", ())),
                   int(data.get("reject_flags", DEFAULT_REJECT_FLAGS)), dict(data.get("meta", {})),
                   tuple(derived_from_dict(d) for d in data.get("derived", ())))

    def save(self, path, overwrite=False):
        """Write the set as JSON (``.json``) or ASDF (``.asdf``).

        Parameters
        ----------
        path : str or path-like
        overwrite : bool
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise ConfigurationError(f"{path} exists; pass overwrite=True to replace it")
        data = self.to_dict()
        if path.suffix == ".json":
            path.write_text(json.dumps(data, indent=2) + "\n")
        elif path.suffix == ".asdf":
            asdf.AsdfFile({"criteria": data}).write_to(path)
        else:
            raise ConfigurationError(f"{path}: save criteria as .json or .asdf")
        return path


def _colnames(table):
    return table.colnames if hasattr(table, "colnames") else list(table)


class _Overlay:
    """Read-only view of a table with extra columns laid over it."""

    def __init__(self, table, extra):
        self.table, self.extra = table, extra
        self.colnames = list(dict.fromkeys(list(_colnames(table)) + list(extra)))

    def __getitem__(self, key):
        return self.extra[key] if key in self.extra else self.table[key]

    def __contains__(self, key):
        return key in self.extra or key in _colnames(self.table)

    def __iter__(self):
        return iter(self.colnames)


#: What each quality flag means for the user (used in ``balmer_reason``).
FLAG_WORDS = {
    "not_covered": "not covered by the spectrum (outside its wavelength range or all pixels "
                   "bad): cannot be measured",
    "masked": "too many bad pixels in the line window to fit it",
    "not_converged": "the profile fit did not converge (noisy or distorted line)",
    "emission": "emission in the line core (an emission-line star, or a sky or cosmic-ray "
                "residual)",
    "at_bound": "a profile parameter ended on its bound",
    "bad_row": "spectrum not prepared",
    "ism_blended": "interstellar K line not separable from the stellar one",
}


def flag_reason(line, flags):
    """``"<line>: <flag names> (<what they mean>)"`` for a line's failing flags."""
    names = F.decode_flags(int(flags))
    words = "; ".join(FLAG_WORDS.get(k, k) for k in names.split(",") if k)
    return f"{line}: {names} ({words})" if words else f"{line}: {names}"


def load_criteria(path, register=False, overwrite=False):
    """Read a criteria set written by `CriteriaSet.save`.

    Parameters
    ----------
    path : str or path-like
        A ``.json`` or ``.asdf`` file.
    register : bool
        Also register it under its name.
    overwrite : bool
        Passed to `register_criteria`.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"criteria file {path} does not exist")
    try:
        if path.suffix == ".asdf":
            with open_plain_asdf(path) as af:
                data = plain_tree(af.tree["criteria"])
                data = json.loads(json.dumps(data, default=_to_builtin))
        else:
            data = json.loads(path.read_text())
    except (KeyError, ValueError, OSError) as exc:
        raise ConfigurationError(f"{path}: not a readable criteria file ({exc})") from exc
    cset = CriteriaSet.from_dict(data)
    if register:
        register_criteria(cset, overwrite=overwrite)
    return cset


def _to_builtin(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, list | tuple):
        return list(obj)
    return str(obj)


#: The registry of named criteria sets.
CRITERIA = {}


def register_criteria(cset, overwrite=False):
    """Register a `CriteriaSet` under its name.

    Raises
    ------
    ConfigurationError
        When the name is taken and ``overwrite`` is False.
    """
    if not isinstance(cset, CriteriaSet):
        raise ConfigurationError(f"register_criteria expects a CriteriaSet, got {type(cset)}")
    if cset.name in CRITERIA and not overwrite:
        raise ConfigurationError(f"a criteria set named {cset.name!r} is already registered; "
                                 "pass overwrite=True or choose another name")
    CRITERIA[cset.name] = cset
    return cset


def get_criteria(criteria):
    """A criteria set by name, from a file, or passed through.

    Parameters
    ----------
    criteria : str, path-like or CriteriaSet
        A registered name (see `CRITERIA`), a ``.json`` / ``.asdf`` file, or a set.
    """
    if isinstance(criteria, CriteriaSet):
        return criteria
    if isinstance(criteria, str) and criteria in CRITERIA:
        return CRITERIA[criteria]
    if isinstance(criteria, str | Path) and Path(criteria).suffix in (".json", ".asdf"):
        return load_criteria(criteria)
    raise ConfigurationError(f"unknown criteria set {criteria!r}; registered: "
                             f"{', '.join(sorted(CRITERIA))} (or give a .json/.asdf file)")


_DEFAULT_QUANTILES = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2)


def derive_criteria(table, labels, positive="BHB", columns=("hgamma_c", "hgamma_b"),
                    name="derived", min_completeness=0.9, quantiles=_DEFAULT_QUANTILES,
                    n_pass=3, description="", register=False, overwrite=False):
    """Fit a box in ``columns`` that keeps the positives and drops the rest.

    Each column gets bounds at quantiles of the positives' values (low bound at quantile ``q``,
    high bound at ``1 − q``, ``q`` from ``quantiles``). The bounds are chosen by coordinate
    ascent (``n_pass`` sweeps over the columns, all combinations of low and high quantile for
    one column at a time): the box with the highest purity among those that keep at least
    ``min_completeness`` of the positives, ties going to the higher completeness. It starts
    from the smallest box holding every positive.

    Parameters
    ----------
    table : `~astropy.table.Table` or dict of arrays
        Balmer measurements (e.g. the output of `BalmerStage.run`).
    labels : array-like or str
        Class label per row, or the name of a column of ``table`` holding them; booleans are
        taken as positive / negative.
    positive : str
        The label of the positives.
    columns : sequence of str
        Columns to cut on.
    name : str
        Name of the new set.
    min_completeness : float
        Fraction of the positives (with finite values) the box must keep.
    quantiles : sequence of float
        Candidate tail fractions for the bounds.

    Returns
    -------
    CriteriaSet
        Its ``meta`` records the number of positives / negatives, purity and completeness on
        ``table`` and the settings.
    """
    if isinstance(labels, str):
        labels = table[labels]
    labels = np.asarray(labels)
    is_pos = labels.astype(bool) if labels.dtype == bool else labels.astype(str) == positive
    columns = tuple(columns)
    missing = [c for c in columns if c not in _colnames(table)]
    if missing:
        raise ConfigurationError(f"derive_criteria: column(s) {', '.join(missing)} not in table")
    X = np.stack([np.ma.filled(np.ma.asarray(table[c], dtype=float), np.nan) for c in columns],
                 axis=1)
    if len(X) != len(is_pos):
        raise ConfigurationError("derive_criteria: labels and table have different lengths")
    finite = np.all(np.isfinite(X), axis=1)
    pos = is_pos & finite
    if pos.sum() < 3:
        raise ConfigurationError(f"derive_criteria: need at least 3 positives ({positive!r}) "
                                 f"with finite {', '.join(columns)}; got {int(pos.sum())}")
    qs = np.asarray(sorted(set(quantiles)), dtype=float)
    cand_lo = np.quantile(X[pos], qs, axis=0)          # (nq, ncol)
    cand_hi = np.quantile(X[pos], 1.0 - qs, axis=0)
    lo, hi = cand_lo[0].copy(), cand_hi[0].copy()
    n_pos = int(is_pos.sum())

    def inside(lo_, hi_):
        with np.errstate(invalid="ignore"):
            return finite[:, None] & (X >= lo_) & (X <= hi_)

    for _ in range(n_pass):
        for j in range(len(columns)):
            others = np.all(np.delete(inside(lo, hi), j, axis=1), axis=1)
            x = X[:, j]
            L, H = np.meshgrid(cand_lo[:, j], cand_hi[:, j], indexing="ij")
            with np.errstate(invalid="ignore"):
                box = others[None, None, :] & (x >= L[..., None]) & (x <= H[..., None])
            tp = np.sum(box & is_pos, axis=-1)
            sel = np.sum(box, axis=-1)
            purity = np.where(sel > 0, tp / np.maximum(sel, 1), 0.0)
            compl = tp / max(n_pos, 1)
            score = np.where(compl >= min_completeness, purity, -1.0)
            # best purity, then completeness, then the widest box
            order = np.lexsort(((H - L).ravel(), compl.ravel(), score.ravel()))
            k = np.unravel_index(order[-1], L.shape)
            if score[k] >= 0:
                lo[j], hi[j] = L[k], H[k]
    ins = np.all(inside(lo, hi), axis=1)
    tp = int(np.sum(ins & is_pos))
    sel = int(np.sum(ins))
    cuts = tuple(Cut(c, float(f"{lo[j]:.4g}"), float(f"{hi[j]:.4g}"), _unit_of(table, c))
                 for j, c in enumerate(columns))
    meta = {"derived_from": {"n_positive": n_pos, "n_negative": int((~is_pos).sum()),
                             "positive": str(positive), "min_completeness": min_completeness,
                             "quantiles": [float(q) for q in qs]},
            "purity": tp / sel if sel else float("nan"),
            "completeness": tp / n_pos if n_pos else float("nan")}
    cset = CriteriaSet(name, cuts, description or
                       f"Box derived by derive_criteria on {n_pos} {positive!r} and "
                       f"{int((~is_pos).sum())} other labelled spectra.", (), meta=meta)
    if register:
        register_criteria(cset, overwrite=overwrite)
    return cset


def _unit_of(table, column):
    unit = getattr(getattr(table, "columns", {}).get(column, None), "unit", None) \
        if hasattr(table, "columns") else None
    return "" if unit is None else str(unit)


_XUE_REFS = (
    "Xue, X.-X., et al. 2008, ApJ, 684, 1143",
    "Xue, X.-X., et al. 2011, ApJ, 738, 79",
    "Sirko, E., et al. 2004, AJ, 127, 899",
    "Clewley, L., et al. 2002, MNRAS, 337, 87",
)
_XUE_DESC = ("Published BHB box of Xue et al. (2008, 2011), after Sirko et al. (2004) and Clewley "
             "et al. (2002), kept as published; calibrated on SDSS spectra.")
_HDELTA = (Cut("hdelta_d02", 17.0, 28.5, "Angstrom"), Cut("hdelta_fm", 0.1, 0.3))
_HGAMMA = (Cut("hgamma_c", 0.75, 1.25), Cut("hgamma_b", 7.5, 10.5, "Angstrom"))
_CAK = (Cut("cak_ew", None, CAK_EW_MAX, "Angstrom"),)

for _cset in (
    CriteriaSet("xue2008", _HDELTA + _HGAMMA, _XUE_DESC, _XUE_REFS),
    CriteriaSet("xue2008-hdelta", _HDELTA, "The Hδ (D0.2, fm) half of 'xue2008'. " + _XUE_DESC,
                _XUE_REFS),
    CriteriaSet("xue2008-hgamma", _HGAMMA, "The Hγ (c, b) half of 'xue2008'. " + _XUE_DESC,
                _XUE_REFS),
    CriteriaSet("cak-screen", _CAK,
                "Ca II K metallicity screen (idea of Ju et al. 2024): K12-band equivalent width "
                f"<= {CAK_EW_MAX} Angstrom drops metal-rich A dwarfs (one threshold for all "
                "temperatures; a configurable default).",
                ("Ju, J., et al. 2024 (LAMOST DR5 BHB stars)",
                 "Beers, T. C., et al. 1999, AJ, 117, 981")),
):
    register_criteria(_cset)
register_criteria(replace(CRITERIA["xue2008"] & CRITERIA["cak-screen"], name="xue2008+cak"))
del _cset


#: Description of the ``"lamost"`` set.
LAMOST_DESCRIPTION = (
    "BHB criteria derived for LAMOST low-resolution spectra from labelled real stars (MILES and "
    "SDSS stellar templates rendered through the instrument model at blue-arm FWHM 2-4 A, "
    "S/N 8-80): Hdelta and Hgamma D0.2, resolution-corrected Hgamma/Hdelta shape c, H8 D0.2, "
    "the Ca II K excess over a star of [Fe/H] = -0.8 and a gravity index (log-odds of a "
    "high-gravity A/B star from six Balmer lines' widths, depths and shapes), with bounds that "
    "move with the Balmer-line temperature estimate teff_balmer. See meta['how'] and "
    "meta['held_out'].")

#: References of the ``"lamost"`` set.
LAMOST_REFERENCES = _XUE_REFS + (
    "Pier, J. R. 1983, ApJS, 53, 791",
    "Ju, J., et al. 2024 (LAMOST DR5 BHB stars; Ca II K against [Fe/H] = -0.8)",
    "Gonzalez Delgado, R. M., et al. 1999, ApJS, 125, 489 (higher Balmer lines)",
    "Culpan, R., et al. 2024 (Kiel-diagram BHB box: the labels)",
    "Sanchez-Blazquez, P., et al. 2006, MNRAS, 371, 703 (MILES)",
)

#: Description of the ``"lamost-phot"`` set.
PHOTOMETRIC_DESCRIPTION = (
    "The 'lamost' criteria with bounds that move with a temperature from photometry, the "
    "column teff_phot (K) you give (e.g. in the table of files), instead of the Balmer-line "
    "estimate, and an upper bound on the metallic-line index (metal_index). Derived on the "
    "same renderings of real stars with the catalogue Teff offset by a Gaussian error of 250 K "
    "per star. A row without teff_phot is not confirmed. See meta['how'] and "
    "meta['held_out_mean'].")

#: The shipped file of the ``"lamost"`` set (written by scripts/derive_balmer_lamost.py).
LAMOST_FILE = data_path("balmer_lamost.json")

#: The shipped file of the ``"lamost-phot"`` set (scripts/derive_balmer_lamost.py
#: --write-photometric).
PHOTOMETRIC_FILE = data_path("balmer_lamost_phot.json")

for _path in (LAMOST_FILE, PHOTOMETRIC_FILE):
    if _path.is_file():
        register_criteria(load_criteria(_path))
del _path
