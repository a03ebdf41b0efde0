"""Look at a file's first bytes: gzip or not, FITS or not, what its header cards say.

`header_cards` is the package's one FITS header-card parser (FITS standard 4.0 §4.1 card
format, §4.2.1 strings with doubled quotes): the LAMOST reader's sniffing and fast path use it,
and so can a reader plugin's ``bhbfinder_get_reader``, on the ``head`` it is given.
"""

import zlib

__all__ = ["GZIP_MAGIC", "FITS_MAGIC", "FITS_BLOCK", "is_gzip", "read_head", "sniff_file",
           "header_cards", "iter_cards", "Cards", "scan_cards"]

GZIP_MAGIC = b"\x1f\x8b"
FITS_MAGIC = b"SIMPLE  ="
FITS_BLOCK = 2880
#: Bytes of a header card.
CARD = 80


def _parse_value(raw):
    text = raw.decode("ascii", "replace").strip()
    if text.startswith("'"):
        parts, rest = [], text[1:]
        while True:
            end = rest.find("'")
            if end < 0:  # unterminated: take what is there
                parts.append(rest)
                break
            if rest[end + 1:end + 2] == "'":
                parts.append(rest[:end + 1])
                rest = rest[end + 2:]
                continue
            parts.append(rest[:end])
            break
        return "".join(parts).rstrip()
    text = text.split("/", 1)[0].strip()
    if text == "T":
        return True
    if text == "F":
        return False
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text.replace("D", "E"))
    except ValueError:
        return text


class Cards(dict):
    """Header keyword (str) -> value; ``[]``, `get` and `items` parse a value when asked for it
    (strings without quotes and trailing blanks, integers, floats, ``True``/``False``; ``None``
    for an empty value). The first card of a keyword wins."""

    def __getitem__(self, key):
        return _parse_value(dict.__getitem__(self, key))

    def get(self, key, default=None):
        raw = dict.get(self, key)
        return default if raw is None else _parse_value(raw)

    def items(self):
        """``[(keyword, parsed value), ...]``."""
        return [(key, self[key]) for key in self]


def _value_cards(raw, offset=0, keys=None):
    """``(position, keyword bytes)`` of each value card from ``offset`` (only ``keys``, when
    given); the last item is ``(position, b"END")`` when the bytes hold the END card."""
    wanted = None if keys is None else {k.encode("ascii").ljust(8) for k in keys}
    for pos in range(offset, len(raw) - CARD + 1, CARD):
        key = raw[pos:pos + 8]
        if key == b"END     ":
            yield pos, b"END"
            return
        if raw[pos + 8:pos + 10] == b"= " and (wanted is None or key in wanted):
            yield pos, key


def scan_cards(raw, offset=0, keys=None):
    """The header cards of ``raw`` from ``offset`` up to END (only ``keys``, when given).

    Returns
    -------
    cards : Cards
    end : int or None
        Offset just after the END card; None when the bytes end first (``cards`` then holds
        every whole card seen).
    """
    cards = Cards()
    setitem = dict.__setitem__
    wanted = None if keys is None else {k.encode("ascii").ljust(8) for k in keys}
    for pos in range(offset, len(raw) - CARD + 1, CARD):  # the hot path: no generator here
        key = raw[pos:pos + 8]
        if key == b"END     ":
            return cards, pos + CARD
        if raw[pos + 8:pos + 10] == b"= " and (wanted is None or key in wanted):
            name = key.rstrip().decode("ascii", "replace")
            if name not in cards:
                setitem(cards, name, raw[pos + 10:pos + CARD])
    return cards, None


def iter_cards(raw, keys=None):
    """Yield ``(keyword, value)`` of the header cards at the start of ``raw`` one by one (only
    ``keys``, when given), parsed as `Cards` parses them: to stop at the first card that
    decides."""
    for pos, key in _value_cards(raw, 0, keys):
        if key == b"END":
            return
        yield key.rstrip().decode("ascii", "replace"), _parse_value(raw[pos + 10:pos + CARD])


def header_cards(raw, keys=None):
    """``{keyword: value}`` (a `Cards`) of the FITS header at the start of ``raw``, up to END or
    the end of the bytes: enough to sniff a file from the ``head`` a reader hook is given.
    ``keys`` (keywords) keeps only those cards, which is faster.

    >>> head = b"SIMPLE  =                    T".ljust(80) + b"TELESCOP= 'LAMOST  '".ljust(80)
    >>> cards = header_cards(head)
    >>> cards["SIMPLE"], cards["TELESCOP"], cards.get("NAXIS")
    (True, 'LAMOST', None)
    """
    return scan_cards(raw, keys=keys)[0]



def is_gzip(path):
    """True when the file's content is gzip-compressed (magic bytes, not the suffix)."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def read_head(path, nbytes=FITS_BLOCK):
    """The first ``nbytes`` of the file's content, inflated if it is gzip.

    A corrupt or truncated gzip stream gives whatever could be inflated (possibly ``b""``);
    readers report the problem properly when they read the file.
    """
    return sniff_file(path, nbytes)[0]


def sniff_file(path, nbytes=FITS_BLOCK):
    """``(head, gzipped)``: `read_head` and whether the content is gzip, from one read."""
    with open(path, "rb") as fh:
        raw = fh.read(max(nbytes, 65536))
    if raw[:2] != GZIP_MAGIC:
        return raw[:nbytes], False
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, nbytes), True
    except zlib.error:
        return b"", True
