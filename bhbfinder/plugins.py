"""The plugin manager: built-in plugins first, then the entry-point group ``bhbfinder.plugins``.

The built-in readers and stages are registered exactly like third-party plugins, from the
modules in :data:`BUILTIN_PLUGINS`. Hooks are called through pluggy (``pm.hook.<name>(...)``:
its ordering, ``firstresult``, hook wrappers); the one addition is documented on
`BHBPluginManager`: every implementation is registered wrapped so that a plugin that raises is
skipped with a `~bhbfinder.errors.PluginWarning` naming it, and the host carries on. A plugin
that fails to import is skipped the same way, and ``bhbfinder plugins`` lists it as failed.
When two third-party plugins claim the same file, a `~bhbfinder.errors.PluginWarning` says
which one reads it (`which_readers` and ``bhbfinder plugins --which FILE`` show every
claimant).
"""

import contextvars
import functools
import importlib
import importlib.metadata
import threading
import warnings

import pluggy
from astropy.table import Table

from . import hookspecs
from .errors import PluginWarning, UnknownFormatError
from .io.sniff import read_head

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
    "bhbfinder.stages.prepare",
    "bhbfinder.stages.classify",
    "bhbfinder.stages.balmer",
    "bhbfinder.stages.params",
    "bhbfinder.stages.verdict",
    "bhbfinder.stages.crossmatch",
    "bhbfinder.stages.dedup",
    "bhbfinder.stages.known",
)

_lock = threading.Lock()
_manager = None


#: While `BHBPluginManager.call_isolated` calls a hook: the ``(plugin name, result)`` of every
#: implementation that answered, in call order.
_ANSWERS = contextvars.ContextVar("bhbfinder_hook_answers", default=None)


def _isolated(function, plugin_name, hook_name):
    """``function`` (a hook implementation) warning about and skipping its own failures, and
    recording its answer for `BHBPluginManager.call_isolated`."""

    @functools.wraps(function)
    def call(*args, **kwargs):
        try:
            result = function(*args, **kwargs)
        except Exception as exc:  # a broken plugin must not take the host down
            warnings.warn(f"plugin {plugin_name!r} raised in {hook_name}: "
                          f"{type(exc).__name__}: {exc}; it is skipped", PluginWarning)
            return None
        answers = _ANSWERS.get()
        if answers is not None and result is not None:
            answers.append((plugin_name, result))
        return result

    call.bhbfinder_isolated = True
    return call


class BHBPluginManager(pluggy.PluginManager):
    """A `pluggy.PluginManager` that isolates failing plugins.

    Every hook implementation is registered wrapped (hook wrappers excepted): an exception
    inside it becomes a `~bhbfinder.errors.PluginWarning` naming the plugin and a ``None``
    answer, so pluggy's call loop goes on to the next implementation. Hooks are called through
    ``pm.hook.<name>(...)``; `call_isolated` does that and also says which plugin gave which
    answer. Use `get_plugin_manager` to get the process-wide instance.
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
        if name is None:  # blocked
            return name
        for caller in self.get_hookcallers(plugin) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not (impl.hookwrapper or impl.wrapper) and \
                        not getattr(impl.function, "bhbfinder_isolated", False):
                    impl.function = _isolated(impl.function, impl.plugin_name, caller.name)
        self._stage_registry = None
        self.origins.setdefault(name, "registered at run time")
        return name

    def unregister(self, plugin=None, name=None):
        plugin = super().unregister(plugin=plugin, name=name)
        self._stage_registry = None
        return plugin

    def call_isolated(self, hookname, firstresult=False, **kwargs):
        """Call a hook through pluggy and say which plugin answered what.

        Parameters
        ----------
        hookname : str
        firstresult : bool
            Stop at the first answer. Without it, a hook specified ``firstresult`` (which
            pluggy stops at its first answer) is called again without the plugins that have
            answered, until none is left: every plugin's answer, in the order they are asked.
        **kwargs
            The hook's arguments.

        Returns
        -------
        list of (plugin_name, result)
            Non-``None`` answers in call order (pluggy's: ``tryfirst`` first, later
            registrations before earlier ones, ``trylast`` last); at most one with
            ``firstresult``.
        """
        caller = getattr(self.hook, hookname)
        stops_early = bool((caller.spec.opts if caller.spec else {}).get("firstresult"))
        answers = []
        while True:
            found = []
            token = _ANSWERS.set(found)
            try:
                caller(**kwargs)
            finally:
                _ANSWERS.reset(token)
            answers.extend(found)
            if firstresult or not stops_early or not found:
                return answers[:1] if firstresult else answers
            answered = {name for name, _ in answers}
            caller = self.subset_hook_caller(
                hookname, [self.get_plugin(name) for name in answered])

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
        reader = self.hook.bhbfinder_get_reader(path=str(path), head=head)
        if reader is None:
            raise UnknownFormatError(
                path,
                "no installed reader recognises this file",
                "is it a LAMOST or SDSS spectrum? `bhbfinder plugins` lists the readers; "
                "install a reader plugin for other surveys",
            )
        return reader


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
