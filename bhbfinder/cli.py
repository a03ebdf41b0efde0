"""The ``bhbfinder`` command line.

Each sub-command is a pair of functions here: ``_add_NAME(subparsers)`` declares its arguments,
``_run_NAME(args)`` does the work by calling the Python API (the command line adds no logic of
its own).
"""

import argparse
import glob
import os
import sys

from . import pipeline
from ._version import __version__
from .catalog import format_summary
from .configfile import merge_config, parse_settings, read_config
from .errors import BHBFinderError, ConfigurationError, IncompleteRunError
from .plugins import list_plugins, which_readers
from .stages import DEFAULT_STAGES, available_stages

__all__ = ["main", "build_parser"]


def _add_plugins(sub):
    p = sub.add_parser("plugins", help="list the loaded plugins, readers and stages",
                       description="List the plugins bhbfinder loaded (built-in and from the "
                                   "'bhbfinder.plugins' entry-point group) and the stages they "
                                   "register.")
    p.add_argument("--stages", action="store_true", help="list the registered stages instead")
    p.add_argument("--which", metavar="FILE",
                   help="which reader reads FILE, and which other readers could")
    p.set_defaults(func=_run_plugins)


def _run_plugins(args):
    if args.which:
        return _which(args.which)
    if args.stages:
        for kind, named in available_stages().items():
            for name, info in sorted(named.items()):
                default = " (default)" if DEFAULT_STAGES.get(kind) == name else ""
                print(f"{kind:11s} {name:16s} [{info.plugin}]{default}  {info.description}")
        return 0
    list_plugins().pprint_all()
    return 0


def _which(path):
    if not os.path.isfile(path):
        raise ConfigurationError(f"--which {path!r}: not a regular file")
    claims = which_readers(path)
    if not claims:
        print(f"{path}: no installed reader recognises it")
        return 1
    for i, (plugin, reader) in enumerate(claims):
        role = "reads it" if i == 0 else "could read it"
        print(f"{plugin:28s} {getattr(reader, 'name', type(reader).__name__):28s} {role}")
    return 0


def _add_find(sub):
    p = sub.add_parser("find", help="find BHB stars in spectrum files",
                       description="Run the whole search over files, directories (walked "
                                   "recursively) and glob patterns, and write the catalogue.")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="files, directories or globs")
    p.add_argument("--files-table", metavar="TABLE",
                   help="instead of INPUT: a table (ECSV, CSV, FITS, VOTable: what astropy "
                        "reads) whose path (or file, filename) column names the spectrum files, "
                        "relative paths taken from the table's folder; its other columns "
                        "(e.g. bp_rp, ebv, resolution_fwhm) travel with each file to the "
                        "stages and the catalogue")
    p.add_argument("-o", "--output", required=True,
                   help="catalogue file (.fits, .ecsv, .parquet, .asdf, .vot)")
    p.add_argument("--model", help="classifier model file (default: the shipped model)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument("--dask-scheduler", metavar="ADDR", help="run on this Dask scheduler")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run with the same output (refused if the "
                        "inputs, model, stage options or version differ)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output and the chunks of an interrupted run")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 3 when a stage failed (on the catalogue or some "
                        "spectra); the catalogue is still written")
    p.add_argument("--batch-size", type=int, default=256, help="spectra per chunk")
    p.add_argument("--online", action="store_true",
                   help="query remote services (Gaia DR3 crossmatch, VizieR BHB catalogues)")
    p.add_argument("--teff-phot-from-colour", action="store_true",
                   help="give each file without a teff_phot of its own one from its "
                        "header's g - r (LAMOST input-catalogue magnitudes; the same as "
                        "--set prepare.teff_phot_from_colour=true)")
    p.add_argument("--stage", action="append", default=[], metavar="KIND=NAME",
                   help="choose a registered stage (KIND=none skips it); repeatable")
    p.add_argument("--set", action="append", default=[], metavar="KIND.OPTION=VALUE",
                   dest="settings",
                   help="a stage option, as config={KIND: {OPTION: VALUE}} in Python, e.g. "
                        "crossmatch.path=gaia.fits, classify.threshold=0.9, "
                        "read.max_inflated_size=200MB; VALUE is read as TOML (numbers, "
                        "true/false, [arrays]), else as text; repeatable")
    p.add_argument("--config", metavar="FILE",
                   help="TOML file of [stages] and per-kind option tables (the same names "
                        "as --stage/--set, which override it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=_run_find)


def _parse_stages(pairs):
    stages = {}
    for pair in pairs:
        kind, sep, name = pair.partition("=")
        if not sep or not kind or not name:
            raise ConfigurationError(f"--stage {pair!r}: use KIND=NAME, e.g. dedup=sky-fof")
        stages[kind] = None if name.lower() == "none" else name
    return stages


def _files_table(path):
    """The ``--files-table`` as a source table, its relative paths made absolute."""
    from astropy.table import Table

    from .pipeline.sources import path_column

    if not os.path.isfile(path):
        raise ConfigurationError(f"--files-table {path!r}: no such file")
    try:
        table = Table.read(path)
    except Exception as exc:
        raise ConfigurationError(
            f"--files-table {path!r}: cannot read it as a table ({type(exc).__name__}: {exc}); "
            "give an ECSV, CSV, FITS or VOTable file with a path column") from None
    column = path_column(table, what=f"--files-table {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    table[column] = [p if os.path.isabs(p) else os.path.join(folder, p)
                     for p in (str(v).strip() for v in table[column])]
    return table


def _run_find(args):
    if args.files_table and args.inputs:
        raise ConfigurationError("give INPUT files or --files-table, not both")
    if not args.files_table and not args.inputs:
        raise ConfigurationError("nothing to read: give INPUT files, directories or globs, "
                                 "or --files-table TABLE")
    missing = [p for p in args.inputs
               if not os.path.lexists(p) and not (set("*?[") & set(p) and glob.glob(p))]
    if missing:
        raise ConfigurationError(f"no such file, directory or matching glob: "
                                 f"{', '.join(repr(p) for p in missing)}")
    stages, config = read_config(args.config) if args.config else ({}, {})
    stages.update(_parse_stages(args.stage))
    config = merge_config(config, parse_settings(args.settings))
    if args.teff_phot_from_colour:
        config = merge_config(config, {"prepare": {"teff_phot_from_colour": True}})
    executor = args.dask_scheduler or (args.workers if args.workers > 1 else None)
    if args.files_table:
        source = _files_table(args.files_table)
    else:
        source = args.inputs[0] if len(args.inputs) == 1 else args.inputs
    try:
        catalog = pipeline.find_bhb(source, model=args.model, stages=stages, config=config,
                           output=args.output, resume=args.resume, overwrite=args.overwrite,
                           executor=executor, progress=not args.quiet,
                           batch_size=args.batch_size, online=args.online, strict=args.strict)
    except IncompleteRunError as exc:
        if exc.catalog is None:
            raise
        print(f"bhbfinder: error: {exc}", file=sys.stderr)
        return 3
    if not args.quiet:
        print(format_summary(catalog.meta["summary"]), file=sys.stderr)
        print(f"wrote {len(catalog)} rows to {args.output}", file=sys.stderr)
    return 0


def _add_train(sub):
    p = sub.add_parser(
        "train", help="train the two-stage MSFA-Net classifier",
        description="Train the two-stage classifier and write an ASDF model file. Either from "
                    "the simulated library of a recipe (--recipe, template material in --data; "
                    "'--recipe default' reproduces the shipped model) or from real labelled "
                    "spectra (--spectra + --labels, joined by obsid or sky position).")
    p.add_argument("output", help="model file to write (.asdf)")
    p.add_argument("--recipe", default="default", help="training recipe (default: 'default')")
    p.add_argument("--data", help="template material for the recipe's library "
                                  "(miles/, templates/spEigenStar-55734.fits)")
    p.add_argument("--cache", help="folder caching the simulated and prepared library")
    p.add_argument("--spectra", nargs="+", help="labelled survey files, folders or globs")
    p.add_argument("--labels", help="label table (any astropy-readable file)")
    p.add_argument("--join", choices=("obsid", "position"), default="obsid",
                   help="how spectra meet labels (default obsid)")
    p.add_argument("--radius", type=float, default=3.0, help="position match radius, arcsec")
    p.add_argument("--label-column", default="label", help="label column of the table")
    p.add_argument("--star-column", help="star identifier column of the table (e.g. Gaia id)")
    p.add_argument("--map", action="append", default=[], metavar="VALUE=CLASS",
                   help="map a label value to a class, e.g. F5=other; repeatable")
    p.add_argument("--architecture", choices=("default", "published"),
                   help="architecture base (default: the recipe's)")
    p.add_argument("--widths", type=int, nargs=3, help="stage widths, e.g. 16 32 64")
    p.add_argument("--attention", choices=("band", "published", "none"))
    p.add_argument("--ivar-channel", action="store_true",
                   help="feed the ivar-derived weight channel too")
    p.add_argument("--epochs-stage1", type=int)
    p.add_argument("--epochs-stage2", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--no-augment", action="store_true", help="no on-the-fly augmentation")
    p.add_argument("--device", help="cpu, cuda, ... (default: CUDA when available)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.set_defaults(func=_run_train)


def _run_train(args):
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    arch = {k: v for k, v in (("base", args.architecture), ("widths", args.widths),
                              ("attention", args.attention)) if v is not None}
    training = {k: v for k, v in (("epochs_stage1", args.epochs_stage1),
                                  ("epochs_stage2", args.epochs_stage2),
                                  ("batch_size", args.batch_size), ("lr", args.lr),
                                  ("seed", args.seed)) if v is not None}
    overrides = {"architecture": arch, "training": training}
    if args.ivar_channel:
        overrides["input"] = {"ivar_channel": True}
    if args.no_augment:
        overrides["augment"] = False
    if args.spectra:
        from .classify.recipes import train_from_labelled

        if not args.labels:
            raise ConfigurationError("--spectra needs --labels TABLE")
        label_map = {}
        for pair in args.map:
            value, sep, cls = pair.partition("=")
            if not sep:
                raise ConfigurationError(f"--map {pair!r}: use VALUE=CLASS")
            label_map[value] = cls
        source = args.spectra[0] if len(args.spectra) == 1 else args.spectra
        train_from_labelled(args.output, source, args.labels, by=args.join, radius=args.radius,
                            label_column=args.label_column, star_column=args.star_column,
                            label_map=label_map, recipe=args.recipe, device=args.device,
                            overrides=overrides)
        return 0
    from .classify.recipes import train_from_recipe

    if not args.data:
        raise ConfigurationError("give --data DIR (template material for the recipe's "
                                 "library) or --spectra/--labels for real labelled spectra")
    train_from_recipe(args.output, args.data, args.recipe, cache_dir=args.cache,
                      device=args.device, overrides=overrides)
    return 0


def _add_simulate(sub):
    p = sub.add_parser(
        "simulate", help="write simulated LAMOST spectra with a truth table",
        description="Simulate LAMOST-like low-resolution spectra (class-balanced, seeded) and "
                    "write them as LAMOST files plus truth.ecsv (labels, source star, true RV, "
                    "parameters). Template sources: the built-in analytic model (default), "
                    "MILES (miles:FOLDER) and the SDSS stellar templates (eigenstar:FILE).")
    p.add_argument("outdir", help="folder to write (created if needed)")
    p.add_argument("-n", type=int, default=60, help="number of spectra (default 60)")
    p.add_argument("--classes", nargs="+", metavar="CLASS",
                   help="classes to simulate (default: BHB A B HotSD WD other)")
    p.add_argument("--snr", type=float, nargs="+", metavar="SNR", default=[10.0, 100.0],
                   help="g-band S/N: one value or a range LO HI (default 10 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--sources", nargs="+", default=["analytic"], metavar="SOURCE",
                   help="template sources: analytic, miles:FOLDER, eigenstar:FILE")
    p.add_argument("--augment", choices=("none", "standard", "heavy"), default="standard")
    p.add_argument("--junk-fraction", type=float, default=0.3,
                   help="fraction of the 'other' class that is galaxies/QSOs/noise")
    p.add_argument("--layout", choices=("A", "B"), default="A",
                   help="LAMOST layout: A (DR1-DR8 image) or B (DR9+ COADD table)")
    p.add_argument("--dialect", choices=("dr6", "dr1"), default="dr6", help="header dialect")
    p.add_argument("--gzip", action="store_true", help="write .fits.gz files")
    p.add_argument("--library", metavar="PATH",
                   help="also save the spectra as a TrainingLibrary ASDF file")
    p.set_defaults(func=_run_simulate)


def _run_simulate(args):
    from .simulate import CLASSES, build_library, simulate_files

    classes = tuple(args.classes or CLASSES)
    if args.n < 1:
        raise ConfigurationError("-n must be at least 1")
    if len(args.snr) not in (1, 2):
        raise ConfigurationError("--snr takes one value or a range LO HI")
    snr = args.snr[0] if len(args.snr) == 1 else tuple(args.snr)
    per, extra = divmod(args.n, len(classes))
    n_per_class = {c: per + (i < extra) for i, c in enumerate(classes)}
    library = build_library(args.sources, n_per_class=n_per_class, snr=snr, seed=args.seed,
                            classes=classes, augment=args.augment,
                            junk_fraction=args.junk_fraction)
    truth = simulate_files(args.outdir, library, layout=args.layout,
                           compress="gzip" if args.gzip else False, dialect=args.dialect)
    if args.library:
        library.save(args.library)
    counts = ", ".join(f"{c} {n}" for c, n in library.provenance["counts"].items())
    print(f"wrote {len(truth)} spectra and truth.ecsv to {args.outdir} ({counts})")
    return 0


def _add_demo(sub):
    p = sub.add_parser("demo", help="run the whole search on a simulated sample (offline)",
                       description="Simulate a small LAMOST-layout sample with the built-in "
                                   "analytic templates (plus two broken files), run the whole "
                                   "pipeline with the shipped model, and write the catalogue "
                                   "and plots to OUTDIR. Needs no data files and no network.")
    p.add_argument("outdir", nargs="?", default="bhbfinder-demo",
                   help="output folder (default: ./bhbfinder-demo)")
    p.add_argument("--per-class", type=int, default=12, help="spectra per class (default 12)")
    p.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=_run_demo)


def _run_demo(args):
    from .demo import format_score, run_demo

    catalog = run_demo(args.outdir, n_per_class=args.per_class, seed=args.seed,
                       progress=not args.quiet,
                       executor=args.workers if args.workers > 1 else None)
    if not args.quiet:
        print(format_summary(catalog.meta["summary"]))
        print(format_score(catalog.meta["demo_score"]))
        print("wrote " + ", ".join(catalog.meta["demo_files"]))
    return 0


#: Sub-commands in the order ``--help`` shows them.
_COMMANDS = [_add_demo, _add_find, _add_train, _add_plugins, _add_simulate]


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
