"""The plugin manager: built-in plugins first, then the entry-point group ``bhbfinder.plugins``.

The built-in readers and stages are registered exactly like third-party plugins, from the
modules in :data:`BUILTIN_PLUGINS`. A plugin that fails to import, or raises inside a hook,
produces a `~bhbfinder.errors.PluginWarning` naming it and is skipped; the host carries on, and
``bhbfinder plugins`` lists it as failed. When two third-party plugins claim the same file,
a `~bhbfinder.errors.PluginWarning` says which one reads it (`which_readers` and
``bhbfinder plugins --which FILE`` show every claimant).
"""

import importlib
import importlib.metadata
import threading
import warnings

import pluggy

from . import hookspecs
from .errors import PluginWarning, UnknownFormatError

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "BHBPluginManager",
    "get_plugin_manager",
    "list_plugins",
    "get_reader",
    "which_readers",
]

#: The entry-point group third-party plugins declare.
ENTRY_POINT_GROUP = "bhbfinder.plugins"

#: Modules holding the built-in plugins, registered in this order before any entry point.
BUILTIN_PLUGINS = (
    "bhbfinder.io.lamost",
    "bhbfinder.io.specutils_reader",
    "bhbfinder.spectra.stage",
    "bhbfinder.classify.stage",
    "bhbfinder.params.stage",
    "bhbfinder.crossmatch.stages",
    "bhbfinder.balmer.stage",
    "bhbfinder.verdict.stage",
)

_lock = threading.Lock()
_manager = None


class BHBPluginManager(pluggy.PluginManager):
    """A `pluggy.PluginManager` that isolates failing plugins.

    Use `get_plugin_manager` to get the process-wide instance.
    """

    def __init__(self):
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.origins = {}  # plugin name -> "builtin" or "entry point (dist version)"
        self.failed = {}  # plugin name -> (origin, module, "ExcType: message")
        self._stage_registry = None
        self._warned_conflicts = set()

    def load_builtins(self):
        """Register the modules in `BUILTIN_PLUGINS`."""
        for modname in BUILTIN_PLUGINS:
            name = "builtin:" + modname.rsplit(".", 1)[-1]
            if self.get_plugin(name) is not None:  # e.g. classify.stage and params.stage
                name = "builtin:" + ".".join(modname.split(".")[-2:])
            try:
                module = importlib.import_module(modname)
                self.register(module, name=name)
            except Exception as exc:  # a broken built-in must not take the host down either
                warnings.warn(f"built-in plugin {modname!r} failed to load: {exc}", PluginWarning)
                self.failed[name] = ("builtin", modname, f"{type(exc).__name__}: {exc}")
                continue
            self.origins[name] = "builtin"

    def load_entry_points(self, group=ENTRY_POINT_GROUP):
        """Register every plugin declared in the entry-point ``group``, each in isolation."""
        for ep in importlib.metadata.entry_points(group=group):
            if self.get_plugin(ep.name) is not None or self.is_blocked(ep.name):
                continue
            dist = getattr(ep, "dist", None)
            origin = f"entry point ({dist.name} {dist.version})" if dist else "entry point"
            try:
                plugin = ep.load()
                self.register(plugin, name=ep.name)
            except Exception as exc:
                warnings.warn(
                    f"plugin {ep.name!r} ({ep.value}) failed to load and is skipped: "
                    f"{type(exc).__name__}: {exc}",
                    PluginWarning,
                )
                self.failed[ep.name] = (origin, ep.value, f"{type(exc).__name__}: {exc}")
                continue
            self.origins[ep.name] = origin
        self._stage_registry = None

    def register(self, plugin, name=None):
        name = super().register(plugin, name=name)
        self._stage_registry = None
        self.origins.setdefault(name, "registered at run time")
        return name

    def unregister(self, plugin=None, name=None):
        plugin = super().unregister(plugin=plugin, name=name)
        self._stage_registry = None
        return plugin

    def call_isolated(self, hookname, firstresult=False, **kwargs):
        """Call a hook implementation by implementation, warning about (and skipping) failures.

        Implementations are called in pluggy's order (``tryfirst`` first, later registrations
        before earlier ones, ``trylast`` last).

        Returns
        -------
        list of (plugin_name, result)
            Non-``None`` results only; at most one when ``firstresult``.
        """
        caller = getattr(self.hook, hookname)
        results = []
        for impl in reversed(caller.get_hookimpls()):
            args = {k: kwargs[k] for k in impl.argnames if k in kwargs}
            try:
                result = impl.function(**args)
            except Exception as exc:
                warnings.warn(
                    f"plugin {impl.plugin_name!r} raised in {hookname}: "
                    f"{type(exc).__name__}: {exc}; it is skipped",
                    PluginWarning,
                )
                continue
            if result is not None:
                results.append((impl.plugin_name, result))
                if firstresult:
                    break
        return results

    def stage_registry(self):
        """``{kind: {name: StageInfo}}`` from every plugin; later plugins override earlier ones."""
        if self._stage_registry is None:
            registry = {kind: {} for kind in hookspecs.STAGE_KINDS}
            # registration order: built-ins first, entry points after, so plugins override
            answers = self.call_isolated("bhbfinder_register_stages")
            for plugin_name, infos in reversed(answers):
                for info in infos:
                    object.__setattr__(info, "plugin", plugin_name)
                    registry[info.kind][info.name] = info
            self._stage_registry = registry
        return self._stage_registry

    def _third_party_reader_impls(self):
        return [impl for impl in self.hook.bhbfinder_get_reader.get_hookimpls()
                if self.origins.get(impl.plugin_name) != "builtin"]

    def get_reader(self, path, head=b""):
        """The reader that handles ``path`` (see the ``bhbfinder_get_reader`` hook).

        When two or more third-party plugins claim the file, the first in pluggy's order
        reads it and a `~bhbfinder.errors.PluginWarning` (once per set of plugins) names them
        all. (A plugin that takes over a format a built-in reader also reads is no conflict:
        that is what plugins are for.)

        Raises
        ------
        UnknownFormatError
            When no installed reader recognises the file.
        """
        if len(self._third_party_reader_impls()) > 1:
            claims = [name for name, _ in self.which_readers(path, head, builtins=False)]
            if len(claims) > 1 and tuple(claims) not in self._warned_conflicts:
                self._warned_conflicts.add(tuple(claims))
                warnings.warn(f"plugins {claims} all claim {path}; {claims[0]!r} reads it (and "
                              "files like it). `bhbfinder plugins --which FILE` shows the "
                              "claimants; uninstall or block the plugin you do not want",
                              PluginWarning)
        answers = self.call_isolated(
            "bhbfinder_get_reader", firstresult=True, path=str(path), head=head
        )
        if not answers:
            raise UnknownFormatError(
                path,
                "no installed reader recognises this file",
                "is it a LAMOST or SDSS spectrum? `bhbfinder plugins` lists the readers; "
                "install a reader plugin for other surveys",
            )
        return answers[0][1]


    def which_readers(self, path, head=b"", builtins=True):
        """Every plugin that would read ``path``, in the order they are asked.

        Returns
        -------
        list of (plugin_name, reader)
            The first one reads the file; the others could.
        """
        answers = self.call_isolated("bhbfinder_get_reader", path=str(path), head=head)
        if not builtins:
            answers = [(n, r) for n, r in answers if self.origins.get(n) != "builtin"]
        return answers


def which_readers(path):
    """``[(plugin_name, reader), ...]``: every installed reader that claims ``path``, the one
    that reads it first (see ``bhbfinder plugins --which``)."""
    from .io.sniff import read_head

    return get_plugin_manager().which_readers(path, read_head(path))


def get_plugin_manager(reload=False):
    """The process-wide plugin manager, built on first use.

    Parameters
    ----------
    reload : bool
        Build it anew (after installing a plugin in a running session).
    """
    global _manager
    with _lock:
        if _manager is None or reload:
            pm = BHBPluginManager()
            pm.load_builtins()
            pm.load_entry_points()
            _manager = pm
        return _manager


def get_reader(path, head=None):
    """The reader for ``path``; ``head`` (its first decompressed bytes) is read if not given."""
    if head is None:
        from .io.sniff import read_head

        head = read_head(path)
    return get_plugin_manager().get_reader(path, head)


def list_plugins():
    """What is loaded: one row per plugin.

    Returns
    -------
    `~astropy.table.Table`
        Columns ``name``, ``origin`` (builtin or the entry point's distribution), ``module``,
        ``status`` (``loaded``, or ``failed: <error>`` for a plugin that could not be
        imported, which is listed too), ``hooks`` (the hooks it implements) and ``stages``
        (``kind:name`` it registers).
    """
    from astropy.table import Table

    pm = get_plugin_manager()
    registry = pm.stage_registry()
    rows = []
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        stages = sorted(
            f"{kind}:{sname}"
            for kind, named in registry.items()
            for sname, info in named.items()
            if info.plugin == name
        )
        module = getattr(plugin, "__name__", type(plugin).__module__)
        rows.append((name, pm.origins.get(name, ""), module, "loaded", ", ".join(hooks),
                     ", ".join(stages)))
    for name, (origin, module, error) in pm.failed.items():
        rows.append((name, origin, module, f"failed: {error}", "", ""))
    return Table(rows=rows, names=("name", "origin", "module", "status", "hooks", "stages"),
                 dtype=(str, str, str, str, str, str))
