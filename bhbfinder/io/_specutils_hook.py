"""Register bhbfinder's specutils loaders when specutils is imported, without importing it.

``import specutils`` takes seconds, so ``import bhbfinder`` must not do it; yet users expect
``import bhbfinder`` followed by ``Spectrum.read(path)`` to read LAMOST files. `install` does
the registration right away when specutils is already imported, and otherwise puts a one-shot
finder on `sys.meta_path` that runs it just after specutils finishes importing.
"""

import importlib.util
import sys
import warnings

__all__ = ["install", "register_all"]

_TARGET = "specutils"


def register_all():
    """Register every specutils loader bhbfinder provides (idempotent)."""
    from .lamost import register_specutils_loader

    register_specutils_loader()


def _register_quietly():
    try:
        register_all()
    except Exception as exc:  # never break the user's `import specutils`
        from ..errors import PluginWarning

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


def install():
    """Register now if specutils is imported, else when it is (called by ``import bhbfinder``)."""
    if _TARGET in sys.modules:
        _register_quietly()
    elif _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
