"""`find_bhb` and `Pipeline`: the stages tied into a streaming, resumable, parallel run.

The stage kinds, their order and what each stage provides are those of
`bhbfinder.hookspecs.STAGE_KINDS`; this module reads nothing of a stage beyond its kind's
protocol. A run reads its inputs in chunks. Each chunk goes through the *batch* stages (prepare →
classify → balmer → params) wherever the executor runs it (this process, local processes, or
Dask workers); only arrays and tables cross process boundaries. Each finished chunk is written
at once to a part file beside the output, so an interrupted run loses nothing and ``resume=True``
carries on where it stopped. When every chunk is done, the *catalogue* stages (Gaia crossmatch,
de-duplication, known objects) run on the assembled catalogue and the output is written.
"""

import collections
import hashlib
import logging
import os
import sys
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import MaskedColumn, QTable, Table, vstack

from .._data import default_model_path
from .._modelcheck import check_model_file
from .._procpool import MAIN_GUARD_HINT, in_spawn_bootstrap
from .._version import __version__
from ..batch import REPLACES_KEY, STATUS_OK
from ..catalog import (
    STAGE_FAILED,
    STAGE_OK,
    STAGE_SKIPPED,
    check_output,
    ensure_columns,
    format_summary,
    new_bhb_column,
    summarize,
    write_catalog,
)
from ..configfile import read_config
from ..errors import (
    BHBFinderError,
    BHBFinderWarning,
    ConfigurationError,
    IncompleteRunError,
    ModelFileError,
)
from ..hookspecs import STAGE_KINDS, stage_kinds
from ..io.limits import ReadLimits
from ..io.read import read_batch
from ..spectra.prepare import check_prepared
from ..stages import DEFAULT_STAGES, get_stage, get_stage_info
from .checkpoint import RunLock, check_fingerprint, fingerprint, save_fingerprint
from .executors import _INDEX, SETUP_ERRORS, _execute, _failed_chunk, _is_serial
from .parts import PartFiles
from .sources import (
    _own_files,
    _refuse_output_among_inputs,
    expand_source,
    source_columns_digest,
)

log = logging.getLogger("bhbfinder")

__all__ = ["find_bhb", "Pipeline", "BATCH_STAGES", "TABLE_STAGES", "CATALOG_STAGES",
           "ONLINE_STAGES", "READ_SECTION", "STAGE_OK", "STAGE_SKIPPED", "STAGE_FAILED",
           "incomplete_stages"]

#: Stages run chunk by chunk, in this order (``prepare`` runs as each of them needs it).
BATCH_STAGES = stage_kinds("batch")
#: Stages run chunk by chunk after the batch stages, on the columns they produced.
TABLE_STAGES = stage_kinds("table")
#: Stages run once on the assembled catalogue, in this order (Gaia ids feed de-duplication).
CATALOG_STAGES = stage_kinds("catalog")
#: Stages that need the network by default; they run only with ``online=True`` or when named.
ONLINE_STAGES = tuple(name for name, kind in STAGE_KINDS.items() if kind.online)
#: Every stage kind, in pipeline order.
ALL_STAGES = stage_kinds()
#: The stages that run chunk by chunk (in the workers), in order.
CHUNK_STAGES = stage_kinds("prepare") + BATCH_STAGES + TABLE_STAGES
#: The value of ``params_classes`` / ``balmer_classes`` that leaves the choice to the stage.
FROM_STAGE = "stage"

#: ``config`` sections that are not stage kinds: options of the read step.
READ_SECTION = "read"


@dataclass
class Pipeline:
    """The BHB search, stage by stage.

    Parameters
    ----------
    model : str or path-like, optional
        Classifier model file (ASDF); the shipped pretrained model when not given.
    stages : dict, optional
        ``{kind: name}`` choosing a registered implementation for a stage kind (see
        ``bhbfinder plugins --stages``), or ``{kind: stage_object}``, or ``{kind: None}`` (or
        ``"none"``, as on the command line) to skip a stage. Unnamed kinds use
        `bhbfinder.stages.DEFAULT_STAGES`, except the network stages (Gaia crossmatch,
        known-catalogue lookup), which run only with ``online=True`` or when named here.
    config : dict, str or path-like, optional
        ``{kind: {option: value}}`` passed to each stage's factory, plus ``{"read": {...}}``
        for the read limits (`bhbfinder.io.limits.ReadLimits`); or a TOML file of the same
        sections (see `bhbfinder.configfile`), whose ``[stages]`` table gives ``stages``.
        Options for a stage that does not run are an error, not silently ignored.
    batch_size : int
        Spectra per chunk.
    online : bool
        Run the stages that query remote services (Gaia archive, VizieR).
    params_classes : tuple of str, None or "stage"
        Run the ``params`` stage only on spectra whose stage-1 class is one of these; others
        get masked parameters. ``None`` runs it on every spectrum. ``"stage"`` (default): the
        stage's own ``classes`` option, which for the built-in stage defaults to the hot stars
        the shipped parameter model covers (BHB, A, B; `bhbfinder.hookspecs.StageKind.classes`).
    balmer_classes : tuple of str, None or "stage"
        Likewise for the ``balmer`` stage (by default BHB, A, B: the stars whose Balmer
        profiles the criteria compare; F/G/K stars, white dwarfs and hot subdwarfs get masked
        Balmer columns). ``None`` fits every spectrum.

    Examples
    --------
    Step by step in a notebook::

        pipe = Pipeline()
        raw = pipe.read(paths[:100])
        prepared = pipe.prepare(raw)
        table = pipe.process(raw)          # prepare + classify + balmer + params
        catalog = pipe.finalize(table)     # crossmatch, dedup, known, is_new_bhb
    """

    model: object = None
    stages: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    batch_size: int = 256
    online: bool = False
    params_classes: tuple | str | None = FROM_STAGE
    balmer_classes: tuple | str | None = FROM_STAGE

    def __post_init__(self):
        if isinstance(self.config, (str, os.PathLike)):
            file_stages, self.config = read_config(self.config)
            self.stages = {**file_stages, **(self.stages or {})}
        self.stages = {kind: _none_if_none(choice) for kind, choice in (self.stages or {}).items()}
        self.config = dict(self.config or {})
        unknown = set(self.stages) - set(DEFAULT_STAGES)
        unknown |= set(self.config) - set(DEFAULT_STAGES) - {READ_SECTION}
        if unknown:
            raise ConfigurationError(
                f"stages/config name unknown stage kinds {sorted(unknown)}; "
                f"the kinds are {', '.join(DEFAULT_STAGES)} (and 'read' in config)"
            )
        for kind, options in self.config.items():
            if not isinstance(options, dict):
                raise ConfigurationError(f"config[{kind!r}] must be a dict of options, not "
                                         f"{type(options).__name__}")
            if kind != READ_SECTION and options and self.choice(kind) is None:
                why = (f"it is a network stage: pass online=True (--online) or name it, e.g. "
                       f"stages={{{kind!r}: {DEFAULT_STAGES[kind]!r}}}"
                       if kind in ONLINE_STAGES and kind not in self.stages
                       else "it is skipped in stages")
                raise ConfigurationError(
                    f"config gives options for the {kind!r} stage ({sorted(options)}), which "
                    f"does not run: {why}")
        self.read_limits = ReadLimits.from_options(self.config.get(READ_SECTION))
        if int(self.batch_size) < 1:
            raise ConfigurationError(f"batch_size must be >= 1, got {self.batch_size!r}")
        self._built = {}
        self._prepare_stages = {}
        # identifies this pipeline in worker processes, which build its stages once and reuse
        # them for every chunk (see _worker_pipeline)
        self._token = uuid.uuid4().hex

    def __getstate__(self):
        # stages are rebuilt in each worker; ship only the description
        state = dict(self.__dict__)
        state["_built"] = {}
        state["_prepare_stages"] = {}
        return state

    # -- stages -----------------------------------------------------------------------------
    def choice(self, kind):
        """What runs for ``kind``: a registered name, a stage object, or None (skipped)."""
        stages = self.stages or {}
        if kind in stages:
            return stages[kind]
        if kind in ONLINE_STAGES and not self.online:
            return None
        return DEFAULT_STAGES[kind]

    def stage(self, kind):
        """The stage object for ``kind`` (built on first use), or None when skipped."""
        if kind not in self._built:
            choice = self.choice(kind)
            options = dict((self.config or {}).get(kind, {}))
            if kind == "classify" and self.model is not None:
                options.setdefault("model", self.model)
            if choice is None or choice is False:
                self._built[kind] = None
            elif isinstance(choice, str):
                self._built[kind] = _build_stage(kind, choice, options)
            else:
                self._built[kind] = choice
        return self._built[kind]

    def model_path(self):
        """The classifier model file the run uses (None when the classify stage is not the
        built-in ``msfanet``, or given a loaded classifier)."""
        model = self.model if self.model is not None else \
            (self.config or {}).get("classify", {}).get("model")
        if isinstance(model, (str, os.PathLike)):
            return Path(model)
        if model is None and self.choice("classify") == DEFAULT_STAGES["classify"]:
            return default_model_path("classify")
        return None

    def _check_model(self, networks=True):
        path = self.model_path()
        if path is not None:
            check_model_file(path, networks=networks)

    def check_stages(self):
        """Check, without building them, that every chosen stage exists and the model file is
        there; the quick check a run makes when its stages are built in worker processes.

        Raises
        ------
        StageNotFoundError, ModelFileError
        """
        for kind in ALL_STAGES:
            choice = self.choice(kind)
            if isinstance(choice, str):
                get_stage_info(kind, choice)
        model = self.model if self.model is not None else \
            (self.config or {}).get("classify", {}).get("model")
        if isinstance(model, (str, os.PathLike)) and not Path(model).is_file():
            raise ModelFileError(f"{model}: no such model file; pass a path written by "
                                 "bhbfinder.classify.save_model or `bhbfinder train`")
        if self.choice("classify") == DEFAULT_STAGES["classify"]:
            self._check_model(networks=False)  # the workers load it (torch) and check all

    def build_stages(self):
        """Build every stage now (raising configuration errors before any work is done)."""
        kinds = BATCH_STAGES + TABLE_STAGES + CATALOG_STAGES
        for kind in kinds:
            stage = self.stage(kind)
            if kind in BATCH_STAGES and stage is not None:
                self._prepare_stage(getattr(stage, "prepare_config", None))
        return {kind: self._built[kind] for kind in kinds}

    def _prepare_stage(self, prepare_config):
        key = _config_key(prepare_config)
        if key not in self._prepare_stages:
            choice = self.choice("prepare")
            options = dict((self.config or {}).get("prepare", {}))
            if prepare_config is not None:
                options["config"] = prepare_config
            if isinstance(choice, str):
                self._prepare_stages[key] = _build_stage("prepare", choice, options)
            elif choice is None:
                raise ConfigurationError("the prepare stage cannot be skipped")
            else:
                self._prepare_stages[key] = choice
        return self._prepare_stages[key]

    # -- steps ------------------------------------------------------------------------------
    def read(self, paths):
        """Read files into a `~bhbfinder.batch.RawBatch` (failures become rows with a reason)."""
        return read_batch([os.fspath(p) for p in paths], limits=self.read_limits)

    def prepare(self, raw, prepare_config=None):
        """Prepare a raw batch as the stages' models expect (default: the classifier's)."""
        if prepare_config is None:
            prepare_config = self._default_prepare_config()
        return self._prepare_stage(prepare_config).run(raw)

    def _default_prepare_config(self):
        """The preprocessing of stages that name none: the classifier's (None: the prepare
        stage's own default)."""
        return getattr(self.stage("classify"), "prepare_config", None)

    def process(self, raw):
        """Run the batch stages on a `~bhbfinder.batch.RawBatch`; one row per spectrum."""
        table = Table(raw.meta, copy=True)
        status = np.array(table["status"], dtype=object)
        prepared_by_config = {}
        for kind in BATCH_STAGES:
            stage = self.stage(kind)
            if stage is None:
                continue
            config = getattr(stage, "prepare_config", None)
            # a stage without its own preprocessing takes the classifier's: the same chunk,
            # prepared once (it used to be prepared again under another key)
            key = _config_key(config if config is not None else self._default_prepare_config())
            if key not in prepared_by_config:
                prepared = _guarded("prepare", status, self.prepare, raw, config)
                prepared_by_config[key] = prepared
                if prepared is not None:
                    _merge_prepared_meta(table, prepared.meta, status)
            prepared = prepared_by_config[key]
            if prepared is None:
                continue
            # the one check that the chunk was prepared as the stage's model expects (a
            # mismatch is the same for every chunk: PreprocessingMismatchError stops the run)
            wavelength = getattr(stage, "wavelength", None)
            if config is not None or wavelength is not None:
                check_prepared(prepared, config, wavelength, what=f"the {kind} stage")
            rows = self._rows_for(kind, stage, table)
            columns = _guarded(kind, status, _run_on_rows, stage, prepared, rows)
            if columns is None:
                continue
            if len(columns) != len(table):
                _mark_failed(status, f"{kind} failed: returned {len(columns)} rows for "
                                     f"{len(table)} spectra")
                continue
            for name in columns.colnames:
                table[name] = columns[name]
            # what a stage says about its columns (e.g. the classifier's class order, which
            # stage1_prob's description points to) travels with the chunk to the catalogue
            table.meta.update(columns.meta)
        table["status"] = np.array([str(s) for s in status], dtype=str)
        for kind in TABLE_STAGES:
            stage = self.stage(kind)
            if stage is None:
                continue
            columns = _guarded(kind, status, stage.run, table)
            if columns is not None and len(columns) == len(table):
                for name in columns.colnames:
                    table[name] = columns[name]
                table.meta.update(columns.meta)   # e.g. the verdict's threshold and prevalence
            elif columns is not None:
                _mark_failed(status, f"{kind} failed: returned {len(columns)} rows for "
                                     f"{len(table)} spectra")
            table["status"] = np.array([str(s) for s in status], dtype=str)
        return table

    def classes(self, kind, stage=None):
        """The stage-1 classes the ``kind`` stage runs on (None: every row).

        ``params_classes`` / ``balmer_classes`` when given, else the stage's ``classes``
        (for a stage not built yet: its ``classes`` option in ``config``), else the kind's
        default (`bhbfinder.hookspecs.StageKind.classes`).
        """
        given = {"params": self.params_classes, "balmer": self.balmer_classes}.get(kind,
                                                                                  FROM_STAGE)
        if not (isinstance(given, str) and given == FROM_STAGE):
            return None if given is None else tuple(given)
        default = STAGE_KINDS[kind].classes
        if stage is None:
            choice = self.choice(kind)
            stage = choice if not isinstance(choice, str) else None
            if stage is None:
                default = (self.config or {}).get(kind, {}).get("classes", default)
        chosen = getattr(stage, "classes", default) if stage is not None else default
        return None if chosen is None else tuple(chosen)

    def _rows_for(self, kind, stage, table):
        """Which rows a batch stage runs on (None: all)."""
        chosen = self.classes(kind, stage)
        if chosen is None or "stage1_class" not in table.colnames:
            return None
        col = table["stage1_class"]
        classes = np.asarray(col.filled("") if hasattr(col, "filled") else col, dtype=str)
        return np.isin(classes, list(chosen))

    def finalize(self, table):
        """Run the catalogue stages and derive ``is_new_bhb``; returns a `~astropy.table.QTable`.

        ``meta["stage_status"]`` says, for each catalogue stage, ``"ok"``, ``"skipped"`` (not
        chosen, e.g. a network stage offline) or ``"failed: ..."`` (its columns are then
        masked); the batch stages' entries are filled in by `run`.
        """
        table = self._estimated_prevalence(Table(table, copy=False))
        status = table.meta.setdefault("stage_status", {})
        for kind in CATALOG_STAGES:
            stage = self.stage(kind)
            if stage is None:
                status[kind] = STAGE_SKIPPED
                continue
            try:
                columns = stage.run(table)
            except Exception as exc:  # a failed lookup must not lose the catalogue
                warnings.warn(f"{kind} stage failed on the catalogue and was skipped: "
                              f"{type(exc).__name__}: {exc}", BHBFinderWarning)
                table.meta.setdefault("stage_errors", {})[kind] = f"{type(exc).__name__}: {exc}"
                status[kind] = f"{STAGE_FAILED}: {type(exc).__name__}: {exc}"
                continue
            for name in columns.colnames:
                table[name] = columns[name]
            table.meta.update(columns.meta)
            status[kind] = STAGE_OK
        ensure_columns(table)
        table["is_new_bhb"] = new_bhb_column(table, known_checked=status.get("known") == STAGE_OK)
        ensure_columns(table)
        return QTable(table)

    def _estimated_prevalence(self, table):
        """With ``config={"verdict": {"prevalence": "estimate"}}``: the catalogue's verdict
        moved to the share of BHB stars estimated from its own ``p_bhb``
        (`bhbfinder.verdict.prevalence`); a failure is recorded and warned about, and the
        model's share kept."""
        from ..verdict.prevalence import ESTIMATE, MIN_ROWS, apply_prevalence

        if table.meta.pop("verdict_prevalence_mode", None) != ESTIMATE:
            return table
        try:
            stage = self.stage("verdict")
            return apply_prevalence(table, ESTIMATE, model=stage.model,
                                    min_rows=getattr(stage, "prevalence_min_rows", MIN_ROWS))
        except Exception as exc:  # an estimate that cannot be made must not lose the run
            warnings.warn(f"the verdict's prevalence could not be estimated and the model's "
                          f"was kept: {type(exc).__name__}: {exc}", BHBFinderWarning)
            table.meta.setdefault("stage_errors", {})["verdict"] = \
                f"prevalence estimate: {type(exc).__name__}: {exc}"
            return table

    def fingerprint(self, items):
        """The run's fingerprint (see `bhbfinder.pipeline.checkpoint`) for these inputs."""
        stages = {}
        for kind in CHUNK_STAGES:
            options = dict((self.config or {}).get(kind, {}))
            if kind == "classify":
                options.pop("model", None)  # the model file is hashed on its own
            stages[kind] = (_stage_label(self.choice(kind)), options)
        selections = {f"{kind}_classes": None if self.classes(kind) is None
                      else list(self.classes(kind)) for kind in ("params", "balmer")}
        selections["read"] = self.read_limits.to_dict()
        return fingerprint([item.name for item in items], stages, self.model_path(),
                           selections, __version__,
                           source_columns=source_columns_digest(items))

    # -- the whole run ----------------------------------------------------------------------
    def run(self, source, *, output=None, resume=False, overwrite=False, executor=None,
            progress=False, strict=False):
        """Run on every input; see `find_bhb` for the arguments."""
        start = time.perf_counter()
        if not _is_serial(executor) and in_spawn_bootstrap():
            raise ConfigurationError(f"find_bhb(executor=...) was called while a worker "
                                     f"process was starting; {MAIN_GUARD_HINT}")
        if output is not None:
            output = Path(output)
            check_output(output, overwrite=overwrite)
        if _is_serial(executor):
            self.build_stages()  # a missing model or unknown stage fails here, not per chunk
        else:
            # workers build the stages (and re-raise setup errors); here only a quick check,
            # so the workers start at once instead of after this process loaded the models
            self.check_stages()
        items = expand_source(source, exclude=_own_files(output))
        if output is None:
            tables, lost = self._run_chunks(items, set(), None, executor, progress)
            return self._finish(tables, items, lost, None, start, progress, strict)
        _refuse_output_among_inputs(output, items)
        with RunLock(output):
            parts = PartFiles(output, _INDEX)
            current = self.fingerprint(items)
            names = [item.name for item in items]
            done = set()
            if parts.exists():
                if resume:
                    check_fingerprint(parts.folder, current, names, output)
                    done = parts.done_indices()
                elif overwrite:
                    parts.clear()
                else:
                    n = len(parts.files())
                    raise ConfigurationError(
                        f"{os.fspath(parts.folder)!r} holds {n} finished chunk(s) of an "
                        f"interrupted run writing {os.fspath(output)!r}; continue it with "
                        "resume=True (--resume), or start again with overwrite=True "
                        "(--overwrite), which deletes them")
            save_fingerprint(parts.folder, current, names)
            _, lost = self._run_chunks(items, done, parts, executor, progress)
            return self._finish(None, items, lost, parts, start, progress, strict,
                                output=output)

    def _run_chunks(self, items, done, parts, executor, progress):
        """Process every input not in ``done``; returns (tables or None, lost index lists)."""
        todo = [i for i in range(len(items)) if i not in done]
        chunks = [todo[i:i + self.batch_size] for i in range(0, len(todo), self.batch_size)]
        collected, lost = [], []
        with _Progress(len(items), initial=len(done), enabled=progress) as bar:
            for index_chunk, table in _execute(self, items, chunks, executor):
                if table is None:  # lost to dead workers twice: left for resume
                    lost.append(index_chunk)
                    continue
                if parts is not None:
                    parts.write(table)
                else:
                    collected.append(table)
                bar.update(len(index_chunk))
        return (None if parts is not None else collected), lost

    def _finish(self, tables, items, lost, parts, start, progress, strict, output=None):
        if lost:
            n = sum(len(c) for c in lost)
            first = [items[c[0]].name for c in lost[:3]]
            where = (f"the finished chunks are kept in {os.fspath(parts.folder)!r}: run again "
                     "with resume=True (--resume) to process them" if parts is not None else
                     "give output= to keep the finished chunks and resume")
            raise IncompleteRunError(
                f"{n} input(s) in {len(lost)} chunk(s) were not processed: their worker "
                f"process died twice (chunks starting with {first}); {where}")
        if parts is not None:
            tables = parts.read_all()
        table = _assemble(tables, items)
        catalog = self.finalize(table)
        stage_status = _batch_stage_status(self, catalog)
        stage_status.update(catalog.meta.get("stage_status", {}))
        catalog.meta["stage_status"] = {kind: stage_status[kind] for kind in
                                        ALL_STAGES}
        catalog.meta["stages"] = {kind: _stage_label(self.choice(kind))
                                  for kind in ALL_STAGES}
        summary = summarize(catalog, elapsed=time.perf_counter() - start)
        catalog.meta["summary"] = summary
        if output is not None:
            write_catalog(catalog, output, overwrite=True)  # checked (and locked) at the start
            parts.clear()
        log.info("%s", format_summary(summary))
        problems = incomplete_stages(catalog.meta)
        if problems:
            warnings.warn("stages that did not complete: " + "; ".join(
                f"{kind}: {text}" for kind, text in problems.items()), BHBFinderWarning)
            if strict:
                raise IncompleteRunError(
                    "strict run: stages did not complete (" + "; ".join(
                        f"{kind}: {text}" for kind, text in problems.items()) + ")" +
                    (f"; the catalogue was written to {os.fspath(output)!r}" if output else ""),
                    catalog=catalog)
        return catalog


def incomplete_stages(meta):
    """``{kind: status}`` of the stages a catalogue's ``meta["stage_status"]`` says failed
    (on the whole catalogue or on some spectra); skipped stages are not listed."""
    status = meta.get("stage_status") or {}
    return {kind: text for kind, text in status.items()
            if text not in (STAGE_OK, STAGE_SKIPPED)}


def _batch_stage_status(pipeline, catalog):
    statuses = collections.Counter(str(s) for s in catalog["status"])
    out = {}
    for kind in CHUNK_STAGES:
        choice = pipeline.choice(kind)
        if choice is None:
            out[kind] = STAGE_SKIPPED
            continue
        failed = {text: n for text, n in statuses.items() if text.startswith(f"{kind} failed")}
        if not failed:
            out[kind] = STAGE_OK
            continue
        n = sum(failed.values())
        reason = max(failed, key=failed.get)
        out[kind] = (f"{STAGE_FAILED} on {n} of {len(catalog)} spectra "
                     f"({reason.split(': ', 1)[-1]})")
    return out


def _build_stage(kind, name, options):
    """``get_stage`` with any error of the stage's factory turned into one that names it."""
    try:
        return get_stage(kind, name, **options)
    except BHBFinderError:
        raise
    except TypeError as exc:
        raise ConfigurationError(f"the {kind} stage {name!r} does not take the options "
                                 f"{sorted(options)}: {exc}") from exc
    except Exception as exc:
        raise ConfigurationError(f"the {kind} stage {name!r} could not be built with options "
                                 f"{options}: {type(exc).__name__}: {exc}") from exc


def _none_if_none(choice):
    if choice is False or (isinstance(choice, str) and choice.strip().lower() == "none"):
        return None
    return choice


def find_bhb(source, *, model=None, stages=None, config=None, output=None, resume=False,
             overwrite=False, executor=None, progress=False, batch_size=256, online=False,
             params_classes=FROM_STAGE, balmer_classes=FROM_STAGE,
             strict=False):
    """Find BHB stars in survey spectra.

    Parameters
    ----------
    source : str, path-like, list, `~specutils.Spectrum`, `~specutils.SpectrumList` or Table
        A directory (walked recursively), a glob pattern, a file, a list of paths, spectra in
        memory, or a table with a ``path`` (or ``file``, or ``filename``) column. A table's
        other columns travel with its files into the meta before the stages run (colours and
        ``ebv`` for the ``params`` stage, ``resolution_fwhm`` or ``resolving_power`` for the
        ``balmer`` stage) and into the catalogue, failure rows included; they replace the
        reader's columns of the same names, masked values stay masked, and they are part of
        the run's fingerprint. Columns the pipeline fills (``file``, ``status``, ``teff``,
        ``rv``, ..., `bhbfinder.pipeline.sources.RESERVED_COLUMNS`) and columns that are not
        one number, string or bool per row are refused (`~bhbfinder.errors.ConfigurationError`).
    model : str or path-like, optional
        Classifier model file; the shipped pretrained model by default.
    stages, config : dict, optional
        Stage choices and options, see `Pipeline` (``config`` may be a TOML file).
    output : str or path-like, optional
        Catalogue file (``.fits``, ``.ecsv``, ``.parquet``, ``.asdf``, ``.vot``), checked
        before the run starts. Chunks are written to ``OUTPUT.parts/`` as they finish, with
        the run's fingerprint, and removed once the catalogue is written; ``OUTPUT.lock``
        stops a second run on the same output. An output that is also an input is refused.
    resume : bool
        Continue an interrupted run with the same ``output``: finished chunks are kept, the
        rest is processed; the result equals an uninterrupted run's. A run with other inputs,
        model, stage options or package version is refused
        (`~bhbfinder.errors.ResumeMismatchError`, saying what changed).
    overwrite : bool
        Replace an existing ``output`` and delete the chunks of an interrupted run; without
        it either is an error.
    executor : None, int, "processes", `concurrent.futures.Executor`, Dask ``Client`` or str
        Where chunks run: this process (None), N local processes (int or "processes" for all
        cores), any executor, a ``dask.distributed.Client``, or a Dask scheduler address.
        A chunk whose local worker process dies is run again once; if it dies again its
        inputs are left for ``resume`` and the run ends with
        `~bhbfinder.errors.IncompleteRunError`. Local workers exit when this process dies.
    progress : bool
        Show a progress bar (on stderr). The end-of-run summary goes to the ``bhbfinder``
        logger (INFO) and is in ``meta["summary"]``; the library prints nothing else.
    batch_size : int
        Spectra per chunk.
    online : bool
        Query remote services (Gaia DR3 crossmatch, known BHB catalogues in VizieR).
    params_classes, balmer_classes : tuple of str, None or "stage"
        Stage-1 classes the ``params`` and ``balmer`` stages run on (see `Pipeline`); by
        default those of the stages (BHB, A, B for the built-in ones).
    strict : bool
        Raise `~bhbfinder.errors.IncompleteRunError` (after writing the catalogue) when a
        stage failed on the catalogue or on some spectra (``meta["stage_status"]``).

    Returns
    -------
    `~astropy.table.QTable`
        One row per input spectrum (failed inputs included, with the reason in ``status``);
        columns in `bhbfinder.catalog.CATALOG_COLUMNS` and more from the stages; the run's
        summary in ``meta["summary"]``, the stage chosen for each kind in ``meta["stages"]``
        and whether it ran (``"ok"``, ``"skipped"``, ``"failed..."``) in
        ``meta["stage_status"]``. Columns of stages that did not run are masked.

    Raises
    ------
    ConfigurationError
        Bad arguments, before any work: unknown stage or option, output format or path, an
        existing output or chunk folder without ``overwrite``, a source table column that is
        reserved or not one value per row.
    ResumeMismatchError, RunLockedError, IncompleteRunError
        See ``resume``, ``output``, ``executor`` and ``strict``.
    """
    config = config if isinstance(config, (str, os.PathLike)) else dict(config or {})
    pipeline = Pipeline(model=model, stages=dict(stages or {}), config=config,
                        batch_size=batch_size, online=online, params_classes=params_classes,
                        balmer_classes=balmer_classes)
    return pipeline.run(source, output=output, resume=resume, overwrite=overwrite,
                        executor=executor, progress=progress, strict=strict)


# -- helpers --------------------------------------------------------------------------------
def _guarded(kind, status, func, *args):
    """Run a stage on a chunk; if it raises, mark the chunk's good rows with the reason."""
    try:
        return func(*args)
    except SETUP_ERRORS:
        raise  # the same for every chunk (e.g. a model that does not fit the data): stop
    except Exception as exc:
        warnings.warn(f"{kind} stage failed on a chunk: {type(exc).__name__}: {exc}",
                      BHBFinderWarning)
        _mark_failed(status, f"{kind} failed: {type(exc).__name__}: {exc}")
        return None


def _run_on_rows(stage, prepared, rows):
    """``stage.run`` on the selected rows only; the others come back masked."""
    if rows is None or rows.all():
        return stage.run(prepared)
    n = len(prepared)
    if not rows.any():
        # run on one row to learn the columns, then mask everything
        columns = stage.run(prepared.take([0])) if n else Table()
        index = np.zeros(n, dtype=int)
    else:
        columns = stage.run(prepared.take(rows))
        index = np.cumsum(rows) - 1
        index[~rows] = 0
    out = Table(meta=columns.meta)
    for name in columns.colnames:
        col = columns[name]
        data = np.asarray(col)[index]
        mask = np.ma.getmaskarray(col)[index] if hasattr(col, "mask") else \
            np.zeros(data.shape, bool)
        mask = mask | ~rows.reshape((-1,) + (1,) * (data.ndim - 1))
        out[name] = MaskedColumn(data, mask=mask, unit=getattr(col, "unit", None),
                                 description=col.info.description)
    return out


def _mark_failed(status, reason):
    for i, s in enumerate(status):
        if s == STATUS_OK:
            status[i] = reason


def _merge_prepared_meta(table, prepared_meta, status):
    replaces = set(prepared_meta.meta.get(REPLACES_KEY, ()))
    for name in prepared_meta.colnames:
        if name == "status":
            for i, s in enumerate(prepared_meta["status"]):
                if status[i] == STATUS_OK and str(s) != STATUS_OK:
                    status[i] = str(s)
        elif name not in table.colnames or name in replaces:
            table[name] = prepared_meta[name]


def _config_key(config):
    if config is None:
        return None
    to_dict = getattr(config, "to_dict", None)
    payload = repr(to_dict() if to_dict else config)
    return hashlib.sha1(payload.encode()).hexdigest()


def _assemble(tables, items):
    if not tables:
        return _failed_chunk(items, [], "")[:0]
    meta = {}
    for chunk in tables:  # the same keys in every chunk: the last one wins (vstack would
        meta.update(chunk.meta)  # concatenate lists such as the class order)
        chunk.meta.clear()
    table = vstack(tables, join_type="outer", metadata_conflicts="silent")
    table.meta.update(meta)
    order = np.argsort(np.asarray(table[_INDEX]), kind="stable")
    table = table[order]
    indices = np.asarray(table[_INDEX])
    if len(indices) != len(items) or np.any(indices != np.arange(len(items))):
        missing = sorted(set(range(len(items))) - set(indices.tolist()))
        raise RuntimeError(f"internal error: the run lost or duplicated inputs "
                           f"(missing {missing[:5]}...)")
    table.remove_column(_INDEX)
    return table


def _stage_label(choice):
    if choice is None:
        return STAGE_SKIPPED
    return choice if isinstance(choice, str) else type(choice).__name__


class _Progress:
    """tqdm when installed, else a quiet counter; disabled when ``enabled`` is False."""

    def __init__(self, total, initial=0, enabled=True):
        self.bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, initial=initial, unit="spectra",
                                desc="bhbfinder", file=sys.stderr)
            except ImportError:
                self.bar = None

    def update(self, n):
        if self.bar is not None:
            self.bar.update(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
