"""Text that any output format can store: escaping what a format cannot encode.

File names come from the file system as ``str`` decoded with ``surrogateescape``, so a name that
is not valid UTF-8 holds lone surrogates (``"\\udcff"``) that no UTF-8 writer accepts; header
values may hold non-ASCII characters, which FITS (ASCII only) cannot store. Writers pass their
text through `escape_text` first: an undecodable byte becomes ``\\xNN`` (the byte's value), and,
where only ASCII is allowed, every non-ASCII character becomes its Python escape (``\\xe9``,
``\\u2013``). Nothing is dropped and a write never fails on text.
"""

import re

import numpy as np

__all__ = ["escape_text", "escape_tree", "escape_array"]

_SURROGATE_BYTE = re.compile("[\udc80-\udcff]")


def _byte_escape(match):
    return f"\\x{ord(match.group()) - 0xDC00:02x}"


def escape_text(text, ascii_only=False):
    """``text`` with every character the target encoding cannot hold escaped.

    Parameters
    ----------
    text : str
    ascii_only : bool
        Escape non-ASCII characters too (FITS headers and string columns).

    Returns
    -------
    str
        Encodable as ASCII (``ascii_only``) or as UTF-8; unchanged when it already is.

    Examples
    --------
    >>> escape_text(b"spec-\\xff.fits".decode("utf-8", "surrogateescape"))
    'spec-\\\\xff.fits'
    >>> escape_text("Sérsic", ascii_only=True)
    'S\\\\xe9rsic'
    """
    if text.isascii():
        return text
    text = _SURROGATE_BYTE.sub(_byte_escape, text)
    codec = "ascii" if ascii_only else "utf-8"
    return text.encode(codec, "backslashreplace").decode(codec)


def _needs_escape(text, ascii_only):
    if text.isascii():
        return False
    if ascii_only:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def escape_array(values, ascii_only=False):
    """A string array with `escape_text` applied where needed (the input when nothing is)."""
    array = np.asarray(values)
    if array.dtype.kind != "U" or array.size == 0:
        return values
    flat = array.ravel()
    bad = [i for i, s in enumerate(flat.tolist()) if _needs_escape(s, ascii_only)]
    if not bad:
        return values
    escaped = [escape_text(s, ascii_only) for s in flat.tolist()]
    width = max(len(s) for s in escaped) or 1
    return np.array(escaped, dtype=f"U{width}").reshape(array.shape)


def escape_tree(value, ascii_only=False):
    """``value`` (nested dicts / lists of plain values) with every string escaped."""
    if isinstance(value, str):
        return escape_text(value, ascii_only)
    if isinstance(value, dict):
        return {escape_tree(str(k), ascii_only): escape_tree(v, ascii_only)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escape_tree(v, ascii_only) for v in value]
    return value
