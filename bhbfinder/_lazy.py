"""Packages whose public names load their modules on first use."""

import importlib

__all__ = ["lazy_exports"]


def lazy_exports(package, names, public):
    """``(__getattr__, __dir__)`` for a package's module namespace.

    Parameters
    ----------
    package : str
        The package (``__name__``).
    names : dict
        ``{name: submodule}``: ``package.name`` is ``package.submodule.name``, imported when
        first asked for and then kept in the package's namespace.
    public : sequence of str
        The package's ``__all__``.
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name):
        if name in names:
            value = getattr(importlib.import_module(f".{names[name]}", package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace) | set(public))

    return __getattr__, __dir__
