"""The ``known`` stage ``catalogs``: stars already in published BHB catalogues
(`bhbfinder.crossmatch.known.KnownBHBMatcher`)."""

from ..hookspecs import hookimpl
from . import StageInfo

__all__ = ["bhbfinder_register_stages"]


def _known(**options):
    # imported when the stage is built: every worker lists the stages, none runs this one
    # (astropy.coordinates and scipy.sparse cost each process ~0.3 s)
    from ..crossmatch.known import KnownBHBMatcher

    return KnownBHBMatcher(**options)


@hookimpl
def bhbfinder_register_stages():
    return [StageInfo("known", "catalogs", _known,
                      "flag stars in published BHB catalogues (VizieR, cached, or local files)")]
