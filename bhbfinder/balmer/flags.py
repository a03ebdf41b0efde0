"""Quality flags of a Balmer-line measurement (bit flags, one integer per spectrum and line).

==================  =====  =====================================================================
name                value  meaning
==================  =====  =====================================================================
``NOT_COVERED``         1  the line's fit window or side bands lie outside the wavelength grid,
                           or every pixel there is masked (outside this spectrum's coverage)
``MASKED``              2  more than ``max_masked_fraction`` of the fit window is masked, or a
                           side band has too few good pixels: no fit
``NOT_CONVERGED``       4  the Levenberg–Marquardt fit stopped at its iteration limit or produced a
                           singular normal matrix
``EMISSION``            8  the line core lies above the local continuum (fitted depth ``a < 0``
                           or core flux > 1): emission or a filled-in core
``AT_BOUND``           16  a fitted parameter ended at one of its bounds (see `FIT_BOUNDS`)
``BAD_ROW``            32  the spectrum itself was not prepared (``status != "ok"``)
``ISM_BLENDED``        64  Ca II K only: the interstellar K line lies within one instrumental
                           FWHM of the stellar line (small radial velocity, or none known), so
                           the split between them rests on the prior (`bhbfinder.balmer.cak`)
==================  =====  =====================================================================

Lines flagged ``NOT_COVERED``, ``MASKED`` or ``BAD_ROW`` carry masked values (flags, not numbers);
the others carry their numbers and the flag says how far to trust them.
"""

import numpy as np

__all__ = ["NOT_COVERED", "MASKED", "NOT_CONVERGED", "EMISSION", "AT_BOUND", "BAD_ROW",
           "ISM_BLENDED", "FLAG_NAMES", "NO_VALUES", "decode_flags"]

NOT_COVERED = 1
MASKED = 2
NOT_CONVERGED = 4
EMISSION = 8
AT_BOUND = 16
BAD_ROW = 32
ISM_BLENDED = 64

#: Bit value -> name, in bit order.
FLAG_NAMES = {
    NOT_COVERED: "not_covered",
    MASKED: "masked",
    NOT_CONVERGED: "not_converged",
    EMISSION: "emission",
    AT_BOUND: "at_bound",
    BAD_ROW: "bad_row",
    ISM_BLENDED: "ism_blended",
}

#: Flags whose lines carry no numbers (masked values).
NO_VALUES = NOT_COVERED | MASKED | BAD_ROW


def decode_flags(flags):
    """Names of the bits set in ``flags``.

    Parameters
    ----------
    flags : int or array-like of int

    Returns
    -------
    str or list of str
        Comma-separated names ("" when no bit is set); a list for array input.

    Examples
    --------
    >>> decode_flags(5)
    'not_covered,not_converged'
    """
    arr = np.asarray(flags)
    if arr.ndim == 0:
        value = int(arr)
        return ",".join(name for bit, name in FLAG_NAMES.items() if value & bit)
    return [decode_flags(int(v)) for v in arr.ravel()]
