"""A minimal FITS parser for the hot path: header cards and plain float arrays from bytes.

Reading millions of LAMOST files, most of astropy.io.fits' time goes to parsing every header
card into `~astropy.io.fits.Card` objects (with a configuration lookup per value). The LAMOST
layouts are simple: a float image, or a one-row binary table of float array columns. This
module reads exactly those straight from the file's bytes with `numpy.frombuffer` (the header
cards through `bhbfinder.io.sniff.scan_cards`, the package's one card parser), and raises
`Unsupported` for anything else (scaled data, heaps, other column types, unusual HDU order), in
which case the caller falls back to astropy.io.fits. It follows the FITS standard 4.0 (§4.1
card format, §4.2.1 strings with doubled quotes, §7.3 binary tables).
"""

import numpy as np

from .sniff import FITS_BLOCK, Cards, scan_cards

__all__ = ["Unsupported", "Cards", "parse_header", "read_image", "read_table_row"]

_FLOAT_FORMS = {"E": ">f4", "D": ">f8", "J": ">i4", "I": ">i2", "K": ">i8"}
_IMAGE_DTYPES = {-32: ">f4", -64: ">f8"}


class Unsupported(Exception):
    """The bytes are valid FITS (as far as seen) but outside what this parser handles."""


class Truncated(Exception):
    """The bytes end before the header or the data does."""


def parse_header(raw, offset=0):
    """Parse the header starting at ``offset``.

    Returns
    -------
    cards : Cards
    data_start : int
        Offset of the first byte after the header's last block.

    Raises
    ------
    Truncated
        No END card before the bytes end.
    """
    cards, end = scan_cards(raw, offset)
    if end is None:
        raise Truncated("header without END card")
    blocks = -(-(end - offset) // FITS_BLOCK)
    return cards, offset + blocks * FITS_BLOCK


def _data_size(cards):
    naxis = cards.get("NAXIS", 0)
    if not naxis:
        return 0
    size = abs(cards["BITPIX"]) // 8 * cards.get("GCOUNT", 1)
    count = 1
    for i in range(1, naxis + 1):
        count *= cards[f"NAXIS{i}"]
    size *= count + cards.get("PCOUNT", 0)
    return -(-size // FITS_BLOCK) * FITS_BLOCK


def _check_unscaled(cards):
    if cards.get("BSCALE", 1) != 1 or cards.get("BZERO", 0) != 0 or "BLANK" in cards:
        raise Unsupported("scaled image")


def read_image(raw, cards, data_start):
    """The primary image (float32/64, unscaled) as an array of shape (NAXIS2, NAXIS1)."""
    dtype = _IMAGE_DTYPES.get(cards.get("BITPIX"))
    if dtype is None or cards.get("NAXIS") != 2:
        raise Unsupported("not a 2-D float image")
    _check_unscaled(cards)
    n1, n2 = cards["NAXIS1"], cards["NAXIS2"]
    nbytes = n1 * n2 * np.dtype(dtype).itemsize
    if data_start + nbytes > len(raw):
        raise Truncated("image data cut short")
    return np.frombuffer(raw, dtype=dtype, count=n1 * n2, offset=data_start).reshape(n2, n1)


def next_header(raw, cards, data_start):
    """Cards and data offset of the HDU after the one described by ``cards``."""
    offset = data_start + _data_size(cards)
    if offset >= len(raw):
        raise Unsupported("no further HDU")
    return parse_header(raw, offset)


def read_table_row(raw, cards, data_start, row=0):
    """One row of a binary table of numeric (array) columns, as ``{TTYPE: array}``."""
    if cards.get("XTENSION") != "BINTABLE" or cards.get("NAXIS") != 2:
        raise Unsupported("not a binary table")
    if cards.get("PCOUNT", 0) or cards.get("THEAP") is not None:
        raise Unsupported("table with a heap")
    fields, offset = [], 0
    for i in range(1, cards.get("TFIELDS", 0) + 1):
        form = str(cards.get(f"TFORM{i}", "")).strip()
        repeat, code = form[:-1], form[-1:]
        if code not in _FLOAT_FORMS or (repeat and not repeat.isdigit()):
            raise Unsupported(f"column format {form!r}")
        if f"TSCAL{i}" in cards or f"TZERO{i}" in cards or f"TDIM{i}" in cards:
            raise Unsupported("scaled or shaped column")
        count = int(repeat) if repeat else 1
        name = str(cards.get(f"TTYPE{i}", f"col{i}")).strip()
        fields.append((name, _FLOAT_FORMS[code], (count,) if count != 1 else ()))
        offset += count * np.dtype(_FLOAT_FORMS[code]).itemsize
    dtype = np.dtype(fields)
    if dtype.itemsize != cards.get("NAXIS1") or row >= cards.get("NAXIS2", 0):
        raise Unsupported("row size does not match the columns")
    start = data_start + row * dtype.itemsize
    if start + dtype.itemsize > len(raw):
        raise Truncated("table data cut short")
    record = np.frombuffer(raw, dtype=dtype, count=1, offset=start)[0]
    return {name: record[name] for name in dtype.names}
