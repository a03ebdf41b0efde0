"""Every reliance of bhbfinder on another library's internals, in one place.

Each one is here because no public way does the job (checked against asdf 6.0, astropy 8.0 and
specutils 2.4); ``tests/test_compat.py`` fails, naming it, as soon as a dependency changes what
it relies on, and each falls back to the public (slower or coarser) way at run time.

`use_core_asdf_extensions`
    asdf: open bhbfinder's plain-tree files without importing every installed extension package
    (seconds per process). Private: ``AsdfConfig._extensions`` and ``_resource_mappings``.
`loader_priority`
    astropy's I/O registry: the priority of a registered reader, to pick the loader specutils
    itself would (``astropy.io.registry.get_formats`` does not report priorities). Private:
    ``registry._readers``.
`install_specutils_hook`
    specutils has no entry point for third-party loaders: ``Spectrum.read`` learns of the LAMOST
    loader when bhbfinder registers it, which must happen after specutils is imported but
    without ``import bhbfinder`` importing specutils (seconds). A finder on `sys.meta_path`
    runs the registration just after specutils' own module finished executing.
"""

import importlib.util
import sys
import warnings
from importlib.metadata import entry_points

from .errors import PluginWarning

__all__ = ["use_core_asdf_extensions", "loader_priority", "install_specutils_hook"]


# -- asdf --------------------------------------------------------------------------------------
#: Distributions whose asdf entry points give the core schemas and types.
_CORE_DISTRIBUTIONS = {"asdf", "asdf_standard", "asdf-standard"}


def use_core_asdf_extensions(config):
    """Give an asdf configuration (in an ``asdf.config_context()``) only asdf's own extensions.

    **Private API**: asdf loads every installed extension package on first use of
    ``AsdfConfig.extensions`` (4-6 s with asdf-astropy, gwcs and ndcube), and its public
    ``add_extension`` / ``remove_extension`` load them all first. This sets the attributes
    ``_resource_mappings`` and ``_extensions`` that the public properties fill lazily, to the
    entry points of asdf's core distributions. Where nothing is to save (already loaded) or
    asdf's internals differ, it leaves the configuration as it is (the normal, slower path);
    ``tests/test_compat.py`` fails when they differ.
    """
    if getattr(config, "_extensions", ()) is not None or \
            getattr(config, "_resource_mappings", ()) is not None:
        return  # already loaded (or an asdf without these attributes): nothing to save
    try:
        # asdf itself is imported by the caller; its extension classes only here, so that
        # `import bhbfinder` (which installs the specutils hook below) stays cheap
        from asdf.extension import ExtensionProxy
        from asdf.resource import ResourceMappingProxy

        config._resource_mappings = _core_entry_points("asdf.resource_mappings",
                                                       ResourceMappingProxy)
        config._extensions = _core_entry_points("asdf.extensions", ExtensionProxy)
    except Exception:  # pragma: no cover - other asdf internals: the normal (slower) path
        config._resource_mappings = None
        config._extensions = None


def _core_entry_points(group, proxy_class):
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


# -- astropy's I/O registry --------------------------------------------------------------------
def loader_priority(registry, fmt, data_class):
    """The priority ``fmt`` was registered with as a reader of ``data_class`` (0 if unknown).

    Private: astropy keeps ``{(format, class): (function, priority)}`` in ``registry._readers``.
    """
    entry = getattr(registry, "_readers", {}).get((fmt, data_class))
    return entry[1] if isinstance(entry, tuple) and len(entry) > 1 else 0


# -- specutils ---------------------------------------------------------------------------------
_TARGET = "specutils"


def register_all():
    """Register every specutils loader bhbfinder provides (idempotent)."""
    from .io.lamost import register_specutils_loader

    register_specutils_loader()


def _register_quietly():
    try:
        register_all()
    except Exception as exc:  # never break the user's `import specutils`
        warnings.warn(f"bhbfinder could not register its specutils loaders: {exc}",
                      PluginWarning)


class _SpecutilsFinder:
    """A meta-path finder that wraps specutils' loader to register ours after it ran."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TARGET:
            return None
        _remove()
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module):
            try:
                original(module)
            finally:
                # restore the loader as it was before registering (specutils is complete now)
                try:
                    del loader.exec_module
                except AttributeError:
                    pass
            _register_quietly()

        loader.exec_module = exec_module
        return spec


_finder = _SpecutilsFinder()


def _remove():
    try:
        sys.meta_path.remove(_finder)
    except ValueError:
        pass


def install_specutils_hook():
    """Register now if specutils is imported, else when it is (called by ``import bhbfinder``)."""
    if _TARGET in sys.modules:
        _register_quietly()
    elif _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
