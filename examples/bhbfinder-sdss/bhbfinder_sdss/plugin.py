"""The bhbfinder plugin: recognise SDSS spec files and hand them to `SDSSReader`.

bhbfinder finds this module through the entry point declared in ``pyproject.toml``::

    [project.entry-points."bhbfinder.plugins"]
    sdss = "bhbfinder_sdss.plugin"

and registers it with its plugin manager; every function below decorated with ``hookimpl`` and
named like a hook of `bhbfinder.hookspecs` is then called by bhbfinder.
"""

import os
import re

from bhbfinder.hookspecs import hookimpl
from bhbfinder.io.sniff import FITS_MAGIC, header_cards

from .reader import SDSSReader

__all__ = ["TELESCOPES", "is_sdss_head", "bhbfinder_get_reader"]

#: ``TELESCOP`` of the SDSS and BOSS spectrographs' telescope at Apache Point.
TELESCOPES = ("SDSS 2.5-M",)

#: SDSS spec file names, for headers whose TELESCOP card lies beyond the first block.
SPEC_FILE_NAME = re.compile(r"^spec-\d{4,6}-\d{5}-\d{4}")


def is_sdss_head(head, path=""):
    """True when ``head`` (a file's first bytes) is the start of an SDSS spec file.

    An SDSS spec file has an empty primary image (``NAXIS = 0``) and ``TELESCOP = 'SDSS
    2.5-M'``. The old spSpec and the spPlate files keep an image in the primary HDU: they are
    left to other readers. Where the TELESCOP card is not in the first header block, a
    ``spec-PLATE-MJD-FIBER`` file name stands in for it.

    Parameters
    ----------
    head : bytes
        The first 2880 bytes of the file's decompressed content.
    path : str
        The file's path (only its name is looked at).
    """
    if not head.startswith(FITS_MAGIC):
        return False
    cards = header_cards(head)  # bhbfinder's FITS card parser
    if cards.get("NAXIS") != 0:
        return False
    if "TELESCOP" in cards:
        return str(cards["TELESCOP"]).strip() in TELESCOPES
    return SPEC_FILE_NAME.match(os.path.basename(str(path))) is not None


#: One reader serves every file: it holds no state but its configuration.
_READER = SDSSReader()


# Not trylast: bhbfinder's built-in readers are trylast, so this answer comes before theirs,
# including the generic specutils reader's, which would read these files too (with less meta).
@hookimpl
def bhbfinder_get_reader(path, head):
    """The SDSS reader for SDSS spec files, ``None`` (not mine) for anything else."""
    if is_sdss_head(head, path):
        return _READER
    return None
