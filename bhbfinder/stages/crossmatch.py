"""The ``crossmatch`` stages ``gaia-dr3`` and ``gaia-local``: Gaia DR3 columns, CMD region and
distance (`bhbfinder.crossmatch.gaia`)."""

from ..hookspecs import hookimpl
from . import StageInfo

__all__ = ["bhbfinder_register_stages"]


def _gaia_dr3(**options):
    # imported when the stage is built: every worker lists the stages, none runs this one
    from ..crossmatch.gaia import GaiaDR3Crossmatch

    return GaiaDR3Crossmatch(**options)


def _gaia_local(**options):
    from ..crossmatch.gaia import GaiaLocalCrossmatch

    return GaiaLocalCrossmatch(**options)


@hookimpl
def bhbfinder_register_stages():
    return [
        StageInfo("crossmatch", "gaia-dr3", _gaia_dr3,
                  "Gaia DR3 via anonymous TAP upload joins (chunked, retried, cached); CMD "
                  "region and distances"),
        StageInfo("crossmatch", "gaia-local", _gaia_local,
                  "Gaia DR3 columns from a local Gaia table file; CMD region and distances"),
    ]
