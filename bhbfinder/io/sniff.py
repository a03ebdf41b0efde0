"""Look at a file's first bytes: gzip or not, FITS or not, whatever its name says."""

import zlib

__all__ = ["GZIP_MAGIC", "FITS_MAGIC", "FITS_BLOCK", "is_gzip", "read_head"]

GZIP_MAGIC = b"\x1f\x8b"
FITS_MAGIC = b"SIMPLE  ="
FITS_BLOCK = 2880


def is_gzip(path):
    """True when the file's content is gzip-compressed (magic bytes, not the suffix)."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def read_head(path, nbytes=FITS_BLOCK):
    """The first ``nbytes`` of the file's content, inflated if it is gzip.

    A corrupt or truncated gzip stream gives whatever could be inflated (possibly ``b""``);
    readers report the problem properly when they read the file.
    """
    with open(path, "rb") as fh:
        raw = fh.read(max(nbytes, 65536))
    if raw[:2] != GZIP_MAGIC:
        return raw[:nbytes]
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, nbytes)
    except zlib.error:
        return b""
