"""Balmer-line confirmation of BHB stars.

Sérsic-type profile fits of Hδ, Hγ and Hβ (Clewley et al. 2002; Sirko et al. 2004; Xue et al. 2008),
D0.2 / fm, a Ca II K index, named criteria sets, and the ``balmer`` stage ``"sersic"``.

Modules: `~bhbfinder.balmer.profile` (the profile, D0.2, fm), `~bhbfinder.balmer.fit` (batched
Levenberg–Marquardt and the scipy reference), `~bhbfinder.balmer.windows` (line windows),
`~bhbfinder.balmer.local_continuum`, `~bhbfinder.balmer.measure`, `~bhbfinder.balmer.flags`,
`~bhbfinder.balmer.criteria`, `~bhbfinder.stages.balmer` and `~bhbfinder.balmer.plotting`
(matplotlib, imported on use).
"""

from .criteria import (
                       CRITERIA,
                       CriteriaSet,
                       Cut,
                       derive_criteria,
                       get_criteria,
                       load_criteria,
                       register_criteria,
)
from .fit import FitResult, fit_batched, fit_scipy
from .flags import decode_flags
from .measure import measure_cak, measure_line
from .profile import d02_from_params, fm_from_params, measure_d02_fm, sersic_profile
from .windows import CAK_WINDOW, DEFAULT_WINDOWS, LineWindow

__all__ = ["BalmerStage", "CriteriaSet", "Cut", "CRITERIA", "get_criteria", "register_criteria",
           "load_criteria", "derive_criteria", "sersic_profile", "d02_from_params",
           "fm_from_params", "measure_d02_fm", "fit_batched", "fit_scipy", "FitResult",
           "measure_line", "measure_cak", "decode_flags", "LineWindow", "DEFAULT_WINDOWS",
           "CAK_WINDOW"]


def __getattr__(name):
    # the stage (its pipeline registration) is loaded on use: `import bhbfinder.balmer` gives
    # the science only
    if name == "BalmerStage":
        from ..stages.balmer import BalmerStage

        return BalmerStage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
