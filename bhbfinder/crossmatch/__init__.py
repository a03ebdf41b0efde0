"""Catalogue stages: de-duplication, known-object flags, Gaia DR3 cross-match, CMD and distances.

Nothing here touches the network at import; the remote clients (astroquery's VizieR and TAP)
are built inside the functions that need them.
"""
