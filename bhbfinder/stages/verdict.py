"""The ``verdict`` stage ``logistic``: one calibrated BHB probability and the final decision.

It runs per chunk after the batch stages and reads their columns (it measures nothing itself):
the parameters with their errors and the Balmer-profile and Ca II K measurements (the network's
probabilities are features too, unused by the shipped model; `bhbfinder.verdict.features`).
Output columns, one row per spectrum:

``p_bhb``
    The probability that the spectrum is of a BHB star, calibrated on held-out stars (stars no
    upstream model was trained on) for their share of BHB stars among the hot spectra, or for
    the ``prevalence`` option's; masked where the row failed.
``is_bhb``
    The final decision: ``p_bhb`` at or above the model's threshold (chosen on held-out
    stars for its precision target); masked where the row failed.

Each stage's own answer (``is_bhb_candidate``, ``balmer_confirmed``, the parameters) stays in
the catalogue beside them.
"""

import numpy as np
from astropy.table import MaskedColumn, Table

from .. import _data
from .._data import DEFAULT_MODELS
from ..hookspecs import hookimpl
from ..io.base import STATUS_OK
from ..verdict.features import feature_matrix
from ..verdict.model import VerdictModel
from ..verdict.prevalence import ESTIMATE, MIN_ROWS
from . import StageInfo

__all__ = ["VerdictStage", "DEFAULT_MODEL", "default_model_path", "bhbfinder_register_stages"]

#: File name of the shipped verdict model in ``bhbfinder/data``.
DEFAULT_MODEL = DEFAULT_MODELS["verdict"]


def default_model_path():
    """Path of the shipped verdict model."""
    return _data.default_model_path("verdict")


class VerdictStage:
    """The ``logistic`` verdict stage.

    Parameters
    ----------
    model : str, path-like or `~bhbfinder.verdict.model.VerdictModel`, optional
        Default: the shipped model.
    threshold : float, optional
        Override the model's decision threshold on ``p_bhb``.
    prevalence : float or ``"estimate"``, optional
        The share of BHB stars among the hot spectra (measured Teff ≥ 7,000 K) of the sample
        being run, when it differs from the evaluation's the model was calibrated on (0.17
        for the shipped model): ``p_bhb`` and the threshold are moved to it
        (`~bhbfinder.verdict.model.VerdictModel.for_prevalence`). ``"estimate"``: the
        catalogue's own share, estimated from its ``p_bhb`` when the run ends
        (`bhbfinder.verdict.prevalence`); each chunk is scored at the model's share until
        then. Default: the model's own.
    prevalence_min_rows : int
        With ``"estimate"``: the fewest hot spectra to estimate from
        (`bhbfinder.verdict.prevalence.MIN_ROWS`); with fewer the model's share is kept and a
        warning says so.
    precision_target : float, optional
        The precision ``is_bhb`` aims at, its threshold chosen again on the model's held-out
        rows (`~bhbfinder.verdict.model.VerdictModel.for_precision`; the shipped model's is
        0.95; on held-out stars 0.98 finds 54 % of the BHB spectra instead of 75 %, at
        precision 0.97 all the same, ``docs/verdict.rst``). Combines with ``prevalence``;
        ``threshold`` overrides both.
    """

    def __init__(self, model=None, threshold=None, prevalence=None,
                 prevalence_min_rows=MIN_ROWS, precision_target=None):
        if not isinstance(model, VerdictModel):
            model = VerdictModel.load(default_model_path() if model is None else model)
        self.estimate_prevalence = isinstance(prevalence, str) and prevalence == ESTIMATE
        self.prevalence_min_rows = int(prevalence_min_rows)
        if precision_target is not None:
            model = model.for_precision(precision_target)
        if prevalence is not None and not self.estimate_prevalence:
            model = model.for_prevalence(prevalence)
        self.model = model
        self.threshold = model.threshold_ if threshold is None else float(threshold)

    def run(self, table):
        """The ``p_bhb`` and ``is_bhb`` columns of a chunk's table (see the module doc)."""
        n = len(table)
        ok = np.asarray(table["status"]).astype(str) == STATUS_OK if n else np.zeros(0, bool)
        p = np.full(n, np.nan)
        if ok.any():
            p[ok] = self.model.predict_proba(feature_matrix(table[ok] if not ok.all()
                                                            else table))
        out = Table()
        out["p_bhb"] = MaskedColumn(p, mask=~ok, description=(
            "probability of a BHB star from the evidence the other stages measured (the "
            "shipped verdict: parameters, Balmer profiles, Ca II K), calibrated on held-out "
            "stars"))
        out["is_bhb"] = MaskedColumn(ok & (p >= self.threshold), mask=~ok, description=(
            f"final decision: p_bhb >= {self.threshold:.3g} (threshold chosen on held-out "
            "stars for the model's precision target)"))
        out.meta["verdict_threshold"] = self.threshold
        out.meta["verdict_prevalence"] = self.model.prevalence
        if self.estimate_prevalence:
            out.meta["verdict_prevalence_mode"] = ESTIMATE
        return out


@hookimpl
def bhbfinder_register_stages():
    return [StageInfo("verdict", "logistic", VerdictStage,
                      "calibrated p_bhb and the final is_bhb from parameters, Balmer profiles, "
                      "Ca II K and the network")]
