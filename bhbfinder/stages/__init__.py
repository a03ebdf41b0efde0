"""Pipeline stages: the descriptor plugins register, the registry that looks them up, and the
built-in stages.

A *stage* is an object with a ``run(data)`` method; which ``data`` it receives and what it
returns depends on its *kind* (see `bhbfinder.hookspecs.STAGE_KINDS` and the kind's protocol).
Plugins register stages by returning `StageInfo` objects from the ``bhbfinder_register_stages``
hook; users pick them by name::

    >>> from bhbfinder.stages import available_stages
    >>> "prepare" in available_stages()
    True

The built-in stages are in the modules of this package, one per stage kind
(`bhbfinder.stages.prepare`, `~bhbfinder.stages.classify`, `~bhbfinder.stages.balmer`,
`~bhbfinder.stages.params`, `~bhbfinder.stages.verdict`, `~bhbfinder.stages.crossmatch`,
`~bhbfinder.stages.dedup`, `~bhbfinder.stages.known`): each turns the science of its package
into a stage and registers it like any plugin.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import StageNotFoundError
from ..hookspecs import STAGE_KINDS
from ..plugins import get_plugin_manager

__all__ = ["StageInfo", "available_stages", "get_stage", "get_stage_info", "DEFAULT_STAGES"]

#: The stage used for each kind when the user names none (`bhbfinder.hookspecs.StageKind.default`).
DEFAULT_STAGES = {name: kind.default for name, kind in STAGE_KINDS.items()}


@dataclass(frozen=True)
class StageInfo:
    """A named implementation of a stage kind, as a plugin registers it.

    Parameters
    ----------
    kind : str
        One of `bhbfinder.hookspecs.STAGE_KINDS`.
    name : str
        Unique within the kind; what users pass to choose it.
    factory : callable
        ``factory(**options)`` returns the stage object (with a ``run`` method).
    description : str
        One line for ``bhbfinder plugins``.
    plugin : str
        Filled in by the plugin manager: the plugin that registered it.
    """

    kind: str
    name: str
    factory: Callable[..., Any]
    description: str = ""
    plugin: str = field(default="", compare=False)

    def __post_init__(self):
        if self.kind not in STAGE_KINDS:
            raise ValueError(
                f"stage {self.name!r}: unknown stage kind {self.kind!r}; "
                f"use one of {', '.join(STAGE_KINDS)}"
            )

    def create(self, **options):
        """Build the stage object with ``options``."""
        return self.factory(**options)


def available_stages(kind=None):
    """The registered stages.

    Parameters
    ----------
    kind : str, optional
        Only this kind.

    Returns
    -------
    dict
        ``{kind: {name: StageInfo}}``, or ``{name: StageInfo}`` when ``kind`` is given.
    """
    registry = get_plugin_manager().stage_registry()
    if kind is None:
        return registry
    _check_kind(kind)
    return registry.get(kind, {})


def get_stage_info(kind, name=None):
    """The `StageInfo` registered for ``kind`` under ``name`` (default: `DEFAULT_STAGES`)."""
    _check_kind(kind)
    name = name or DEFAULT_STAGES[kind]
    stages = available_stages(kind)
    if name not in stages:
        known = ", ".join(sorted(stages)) or "none"
        raise StageNotFoundError(
            f"no {kind!r} stage named {name!r} is registered (registered: {known}); "
            "check the name or install the plugin that provides it"
        )
    return stages[name]


def get_stage(kind, name=None, **options):
    """Create the stage of ``kind`` named ``name`` with ``options``."""
    return get_stage_info(kind, name).create(**options)


def _check_kind(kind):
    if kind not in STAGE_KINDS:
        raise StageNotFoundError(
            f"unknown stage kind {kind!r}; the kinds are {', '.join(STAGE_KINDS)}"
        )
