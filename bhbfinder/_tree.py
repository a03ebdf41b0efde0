"""Plain-Python trees for ASDF files (model files, libraries, criteria sets)."""

import numpy as np

__all__ = ["plain_tree"]


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
