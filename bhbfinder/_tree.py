"""Plain-Python trees for ASDF files (model files, libraries, criteria sets)."""

import contextlib
import os
import struct

import asdf
import numpy as np
import yaml

from ._compat import use_core_asdf_extensions
from .errors import ModelFileError

__all__ = ["plain_tree", "detach_tree", "open_plain_asdf", "read_model_tree", "check_asdf_file",
           "ASDF_LIMITS"]

#: Bounds a bhbfinder ASDF file (model, criteria set, part file) must respect before asdf is
#: allowed to parse it: file size, expanded YAML tree nodes (a few hundred bytes of YAML
#: aliases can stand for billions of nodes), and the bytes its arrays and blocks declare.
ASDF_LIMITS = {"max_file_bytes": 1 << 30, "max_tree_nodes": 1_000_000,
               "max_data_bytes": 1 << 30}

_BLOCK_MAGIC = b"\xd3BLK"
#: Largest inflation ratio a zlib / lz4 stream can reach (zlib's is 1032:1).
_MAX_RATIO = 1100
_ITEMSIZE = {"int8": 1, "uint8": 1, "bool8": 1, "int16": 2, "uint16": 2, "float16": 2,
             "int32": 4, "uint32": 4, "float32": 4, "int64": 8, "uint64": 8, "float64": 8,
             "complex64": 8, "complex128": 16}


def plain_tree(value, arrays_as_lists=False):
    """``value`` with dict keys as str, tuples as lists and numpy scalars as Python numbers.

    ASDF stores such trees as plain YAML that any reader (and a human) understands; array
    payloads are left as arrays unless ``arrays_as_lists``.
    """
    if isinstance(value, dict):
        return {str(k): plain_tree(v, arrays_as_lists) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_tree(v, arrays_as_lists) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if arrays_as_lists and isinstance(value, np.ndarray):
        return value.tolist()
    return value


def detach_tree(value):
    """An ASDF tree as read, detached from its file: arrays (lazy or not) copied into numpy
    arrays in memory, tagged dicts and lists as plain ones, tuples as lists.

    The one walker every bhbfinder file reader uses (classifier, params and verdict models).
    """
    if isinstance(value, dict):
        return {k: detach_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [detach_tree(v) for v in value]
    if hasattr(value, "__array__") and not isinstance(value, str | bytes):
        return np.array(value)
    return value


@contextlib.contextmanager
def open_plain_asdf(path):
    """Open an ASDF file of plain trees (numbers, strings, lists, dicts, arrays) quickly.

    On its first open asdf imports every installed extension package; with asdf-astropy, gwcs
    and ndcube installed that costs ~4-6 s per process (it imports matplotlib and
    astropy.modeling), which bhbfinder's model files and criteria sets never need: they hold
    only core ASDF types. This opens ``path`` with asdf's core extensions alone
    when nothing has loaded the full set yet, and with the normal configuration otherwise
    (`bhbfinder._compat.use_core_asdf_extensions`).

    Yields
    ------
    asdf.AsdfFile
        Opened with ``lazy_load=False, memmap=False``.
    """
    check_asdf_file(path)
    with asdf.config_context() as config:
        use_core_asdf_extensions(config)
        with asdf.open(path, lazy_load=False, memmap=False) as af:
            yield af


def read_model_tree(path, format, format_version, missing, what):
    """The detached tree (`detach_tree`) of a bhbfinder model file, checked on the way.

    Parameters
    ----------
    path : str or path-like
    format : str
        The ``format`` the tree must declare.
    format_version : int
        The newest ``format_version`` this bhbfinder reads.
    missing : str
        The message for a missing file, after the path (what to give instead).
    what : str
        What the file should be, e.g. ``"SLAM-emulator model"``.

    Raises
    ------
    ModelFileError
        Missing, not ASDF or beyond `ASDF_LIMITS`, another ``format``, or a newer version.
    """
    try:
        with open_plain_asdf(str(path)) as af:
            tree = detach_tree(af.tree)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: {missing}") from None
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(f"{path}: cannot read it as ASDF ({exc})") from exc
    if tree.get("format") != format:
        raise ModelFileError(f"{path}: not a {what} (format {tree.get('format')!r}, expected "
                             f"{format!r})")
    if tree.get("format_version", 0) > format_version:
        raise ModelFileError(f"{path}: written by a newer bhbfinder (format version "
                             f"{tree['format_version']}); upgrade bhbfinder")
    return tree


def check_asdf_file(path, limits=None):
    """Check an ASDF file's declared sizes before asdf parses it.

    Refuses a file larger than ``max_file_bytes``; a YAML tree that expands (through aliases)
    to more than ``max_tree_nodes`` nodes, or refers to itself; blocks that claim more bytes
    than the file holds or inflate beyond ``max_data_bytes`` or beyond what their compression
    can reach; and arrays whose shape needs more bytes than their block holds. It reads only
    the YAML text and the block headers, so a crafted file costs milliseconds, not minutes.

    Parameters
    ----------
    path : str or path-like
    limits : dict, optional
        Overrides of :data:`ASDF_LIMITS`.

    Raises
    ------
    ModelFileError
        Naming the file and the limit it breaks.
    """
    limits = {**ASDF_LIMITS, **(limits or {})}
    path = os.fspath(path)
    size = os.path.getsize(path)
    if size > limits["max_file_bytes"]:
        raise ModelFileError(f"{path}: {size} bytes is more than the {limits['max_file_bytes']} "
                             "an ASDF file of bhbfinder may have (ASDF_LIMITS['max_file_bytes'])")
    with open(path, "rb") as fh:
        raw = fh.read()
    if not raw.startswith(b"#ASDF"):
        raise ModelFileError(f"{path}: not an ASDF file (no #ASDF header line)")
    end = raw.find(_BLOCK_MAGIC)
    text = raw if end < 0 else raw[:end]
    blocks = _block_sizes(raw, max(end, 0), path, limits) if end >= 0 else []
    try:
        nodes = _compose(text, path)
        if nodes is not None:
            _check_tree(nodes, blocks, path, limits)
    except RecursionError:
        raise ModelFileError(f"{path}: its ASDF tree is nested too deeply") from None


def _block_sizes(raw, pos, path, limits):
    """``[data_size, ...]`` of the binary blocks, checked against the file."""
    sizes = []
    while raw.startswith(_BLOCK_MAGIC, pos):
        if pos + 6 > len(raw):
            raise ModelFileError(f"{path}: block {len(sizes)} is cut short")
        (header_size,) = struct.unpack(">H", raw[pos + 4:pos + 6])
        header = raw[pos + 6:pos + 6 + header_size]
        if header_size < 48 or len(header) < 48:
            raise ModelFileError(f"{path}: block {len(sizes)} has a damaged header")
        compression = header[4:8]
        allocated, used, data_size = struct.unpack(">QQQ", header[8:32])
        start = pos + 6 + header_size
        if used > allocated or start + used > len(raw):
            raise ModelFileError(f"{path}: block {len(sizes)} claims {used} bytes; the file "
                                 f"holds {max(len(raw) - start, 0)} after its header")
        if compression == b"\0\0\0\0":
            if data_size != used:
                raise ModelFileError(f"{path}: block {len(sizes)} is uncompressed but declares "
                                     f"{data_size} bytes of data in {used}")
        elif data_size > limits["max_data_bytes"] or data_size > _MAX_RATIO * max(used, 1):
            raise ModelFileError(f"{path}: block {len(sizes)} declares {data_size} bytes once "
                                 f"inflated from {used}; refused (ASDF_LIMITS['max_data_bytes'] "
                                 f"is {limits['max_data_bytes']})")
        sizes.append(data_size)
        pos = start + allocated
    return sizes


def _compose(text, path):
    """The YAML node graph (aliases shared, nothing constructed), or None without YAML."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.compose(text.decode("utf-8"), Loader=loader)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ModelFileError(f"{path}: its ASDF tree is not valid YAML ({exc})") from None


def _check_tree(root, blocks, path, limits):
    counts = {}
    active = set()
    arrays = []

    def count(node):
        key = id(node)
        if key in counts:
            return counts[key]
        if key in active:
            raise ModelFileError(f"{path}: its ASDF tree refers to itself (recursive alias)")
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += count(child)
        elif isinstance(node, yaml.MappingNode):
            if "ndarray" in (node.tag or ""):
                arrays.append(node)
            for k, v in node.value:
                total += count(k) + count(v)
        if total > limits["max_tree_nodes"]:
            raise ModelFileError(f"{path}: its ASDF tree expands to more than "
                                 f"{limits['max_tree_nodes']} nodes (YAML aliases); refused")
        active.discard(key)
        counts[key] = total
        return total

    count(root)
    for node in arrays:
        _check_array(node, blocks, path, limits)


def _check_array(node, blocks, path, limits):
    fields = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    shape = fields.get("shape")
    if not isinstance(shape, yaml.SequenceNode):
        return
    count = 1
    for dim in shape.value:
        if not isinstance(dim, yaml.ScalarNode) or not dim.value.isdigit():
            return  # a streamed ("*") dimension: bounded by its block
        count *= int(dim.value)
    itemsize = 8
    datatype = fields.get("datatype")
    if isinstance(datatype, yaml.ScalarNode):
        itemsize = _ITEMSIZE.get(datatype.value, 16)
    elif isinstance(datatype, yaml.SequenceNode) and len(datatype.value) == 2:
        kind, length = datatype.value
        if isinstance(length, yaml.ScalarNode) and length.value.isdigit():
            itemsize = int(length.value) * (4 if "ucs4" in str(kind.value) else 1)
    nbytes = count * itemsize
    if nbytes > limits["max_data_bytes"]:
        raise ModelFileError(f"{path}: an array of shape {[d.value for d in shape.value]} "
                             f"({nbytes} bytes) is larger than ASDF_LIMITS['max_data_bytes']")
    source = fields.get("source")
    if isinstance(source, yaml.ScalarNode) and source.value.lstrip("-").isdigit():
        index = int(source.value)
        if index >= len(blocks) or (index < 0 and -index > len(blocks)):
            raise ModelFileError(f"{path}: an array refers to block {index}, which the file "
                                 "does not have")
        offset = fields.get("offset")
        offset = int(offset.value) if isinstance(offset, yaml.ScalarNode) and \
            offset.value.isdigit() else 0
        if offset + nbytes > blocks[index]:
            raise ModelFileError(f"{path}: an array of {nbytes} bytes does not fit its block "
                                 f"({blocks[index]} bytes); the file is damaged")
