"""The final BHB verdict: one calibrated probability from independent evidence.

* `bhbfinder.verdict.features`: the features (Kiel-box position from the parameters and their
  errors, [Fe/H], Balmer profiles, Ca II K, the network's probabilities).
* `bhbfinder.verdict.model`: `VerdictModel` (penalised logistic regression), `cross_fit`,
  `choose_threshold`, `reliability_table`.
* `bhbfinder.verdict.prevalence`: a catalogue's own share of BHB stars
  (`estimate_prevalence`) and its verdict moved to another share (`apply_prevalence`).
* `bhbfinder.stages.verdict`: the pipeline stage (``verdict:logistic``) adding ``p_bhb`` and
  ``is_bhb``.
"""

from .features import FEATURE_NAMES, NETWORK_FEATURES, PHYSICAL_FEATURES, feature_matrix
from .model import (
    VerdictModel,
    choose_threshold,
    cross_fit,
    out_of_fold_log_odds,
    reliability_table,
)
from .prevalence import apply_prevalence, estimate_prevalence

__all__ = ["FEATURE_NAMES", "PHYSICAL_FEATURES", "NETWORK_FEATURES", "feature_matrix",
           "VerdictModel", "choose_threshold", "cross_fit", "out_of_fold_log_odds",
           "reliability_table", "estimate_prevalence", "apply_prevalence"]
