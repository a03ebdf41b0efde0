"""Plain-Python trees for ASDF files (model files, libraries, criteria sets)."""

import contextlib

import numpy as np

__all__ = ["plain_tree", "open_plain_asdf"]


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


@contextlib.contextmanager
def open_plain_asdf(path):
    """Open an ASDF file of plain trees (numbers, strings, lists, dicts, arrays) quickly.

    On its first open asdf imports every installed extension package; with asdf-astropy, gwcs
    and ndcube installed that costs ~4-6 s per process (it imports matplotlib and
    astropy.modeling), which bhbfinder's model files and criteria sets never need: they hold
    only core ASDF types. This opens ``path`` with asdf's core extensions alone
    when nothing has loaded the full set yet, and with the normal configuration otherwise (or if
    asdf's internals differ from the version this was written for).

    Yields
    ------
    asdf.AsdfFile
        Opened with ``lazy_load=False, memmap=False``.
    """
    import asdf

    with asdf.config_context() as config:
        _use_core_extensions(config)
        with asdf.open(path, lazy_load=False, memmap=False) as af:
            yield af


#: Distributions whose asdf entry points give the core schemas and types.
_CORE_DISTRIBUTIONS = {"asdf", "asdf_standard", "asdf-standard"}


def _use_core_extensions(config):
    if getattr(config, "_extensions", ()) is not None or \
            getattr(config, "_resource_mappings", ()) is not None:
        return  # already loaded (or an asdf without these attributes): nothing to save
    try:
        from asdf.extension import ExtensionProxy
        from asdf.resource import ResourceMappingProxy

        config._resource_mappings = _core_entry_points("asdf.resource_mappings",
                                                       ResourceMappingProxy)
        config._extensions = _core_entry_points("asdf.extensions", ExtensionProxy)
    except Exception:  # pragma: no cover - other asdf internals: the normal (slower) path
        config._resource_mappings = None
        config._extensions = None


def _core_entry_points(group, proxy_class):
    from importlib.metadata import entry_points

    found = []
    for point in entry_points(group=group):
        if point.dist is None or point.dist.name not in _CORE_DISTRIBUTIONS:
            continue
        elements = point.load()()
        for element in elements if isinstance(elements, list) else [elements]:
            found.append(proxy_class(element, package_name=point.dist.name,
                                     package_version=point.dist.version))
    if not found:
        raise RuntimeError(f"no core asdf entry points in {group}")
    return found
