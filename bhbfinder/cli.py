"""The ``bhbfinder`` command line.

Each sub-command is a pair of functions here: ``_add_NAME(subparsers)`` declares its arguments,
``_run_NAME(args)`` does the work by calling the Python API (the command line adds no logic of
its own).
"""

import argparse
import sys

from . import __version__
from .errors import BHBFinderError

__all__ = ["main", "build_parser"]


def _add_plugins(sub):
    p = sub.add_parser("plugins", help="list the loaded plugins, readers and stages",
                       description="List the plugins bhbfinder loaded (built-in and from the "
                                   "'bhbfinder.plugins' entry-point group) and the stages they "
                                   "register.")
    p.add_argument("--stages", action="store_true", help="list the registered stages instead")
    p.set_defaults(func=_run_plugins)


def _run_plugins(args):
    from .plugins import list_plugins
    from .stages import DEFAULT_STAGES, available_stages

    if args.stages:
        for kind, named in available_stages().items():
            for name, info in sorted(named.items()):
                default = " (default)" if DEFAULT_STAGES.get(kind) == name else ""
                print(f"{kind:11s} {name:16s} [{info.plugin}]{default}  {info.description}")
        return 0
    list_plugins().pprint_all()
    return 0


#: Sub-commands in the order ``--help`` shows them.
_COMMANDS = [_add_plugins]


def build_parser():
    """The argument parser of the ``bhbfinder`` command."""
    parser = argparse.ArgumentParser(
        prog="bhbfinder",
        description="Find blue horizontal-branch stars in survey spectra.",
    )
    parser.add_argument("--version", action="version", version=f"bhbfinder {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv=None):
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BHBFinderError as exc:
        print(f"bhbfinder: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
