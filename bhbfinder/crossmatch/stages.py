"""The built-in catalogue stages: de-duplication, known objects and the Gaia DR3 cross-match.

Registered like any plugin through the ``bhbfinder_register_stages`` hook. The factories import
their modules only when a stage is created, so listing the stages stays cheap.
"""

from ..hookspecs import hookimpl
from ..stages import StageInfo

__all__ = ["bhbfinder_register_stages"]


def _dedup(**options):
    from .dedup import SkyFoFDedup

    return SkyFoFDedup(**options)


def _known(**options):
    from .known import KnownBHBMatcher

    return KnownBHBMatcher(**options)


def _gaia_dr3(**options):
    from .gaia import GaiaDR3Crossmatch

    return GaiaDR3Crossmatch(**options)


def _gaia_local(**options):
    from .gaia import GaiaLocalCrossmatch

    return GaiaLocalCrossmatch(**options)


@hookimpl
def bhbfinder_register_stages():
    return [
        StageInfo("dedup", "sky-fof", _dedup,
                  "group repeat visits by Gaia source_id, else sky friends-of-friends (3 arcsec)"),
        StageInfo("known", "catalogs", _known,
                  "flag stars in published BHB catalogues (VizieR, cached, or local files)"),
        StageInfo("crossmatch", "gaia-dr3", _gaia_dr3,
                  "Gaia DR3 via anonymous TAP upload joins (chunked, retried, cached); CMD "
                  "region and distances"),
        StageInfo("crossmatch", "gaia-local", _gaia_local,
                  "Gaia DR3 columns from a local Gaia table file; CMD region and distances"),
    ]
