"""The ``dedup`` stage ``sky-fof``: repeat visits of one star grouped
(`bhbfinder.crossmatch.dedup.SkyFoFDedup`)."""

from ..hookspecs import hookimpl
from . import StageInfo

__all__ = ["bhbfinder_register_stages"]


def _dedup(**options):
    # imported when the stage is built: every worker lists the stages, none runs this one
    # (astropy.coordinates and scipy.sparse cost each process ~0.3 s)
    from ..crossmatch.dedup import SkyFoFDedup

    return SkyFoFDedup(**options)


@hookimpl
def bhbfinder_register_stages():
    return [StageInfo("dedup", "sky-fof", _dedup,
                      "group repeat visits by Gaia source_id, else sky friends-of-friends "
                      "(3 arcsec)")]
