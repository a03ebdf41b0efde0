"""Catalogue stages: de-duplication, known-object flags, Gaia DR3 cross-match, CMD and distances.

Nothing here touches the network at import; the remote clients (astroquery's VizieR and TAP)
are built inside the functions that need them, with the servers and timeout of `conf`
(astroquery's convention: ``bhbfinder.crossmatch.conf.gaia_server = ...``).
"""

from ._service import Conf, conf

__all__ = ["Conf", "conf"]
