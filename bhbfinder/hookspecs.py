"""The plugin contract of bhbfinder: the hooks, the stage kinds and what a stage of each kind
must provide, and the columns of the catalogue.

This module is the whole contract: a plugin needs nothing else to know what it may implement
and what the pipeline will do with it. A plugin is any module or object with functions named
like the hooks below and decorated with :data:`hookimpl`; it is found through the entry-point
group ``bhbfinder.plugins`` (see :doc:`/plugins`). The built-in readers and stages are plugins of
exactly the same kind, registered before the entry points.

A minimal reader plugin::

    from bhbfinder.hookspecs import hookimpl
    from bhbfinder.io.base import Reader

    class MyReader(Reader):
        name = "my-survey"
        def read_arrays(self, path): ...

    @hookimpl
    def bhbfinder_get_reader(path, head):
        if path.endswith(".myfits"):
            return MyReader()

and in the plugin's ``pyproject.toml``::

    [project.entry-points."bhbfinder.plugins"]
    my_survey = "my_package.plugin"

Hooks are called with keyword arguments; an implementation may accept any subset of them.

Stages
    A *stage* is an object with a ``run`` method. Each stage kind (`STAGE_KINDS`, in pipeline
    order) says when its stages run, what ``run`` takes and returns (the `typing.Protocol` of
    the kind: `PrepareStage`, `BatchStage`, `TableStage`, `CatalogStage`) and which built-in
    stage runs when the user names none. The attributes a protocol lists besides ``run`` are
    read by the pipeline; a stage that lacks one gets the default written beside it.
Catalogue
    Every catalogue has the columns of `CATALOG_COLUMNS` (masked where their stage did not run);
    stages add more, described by the column descriptions they set.
"""

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pluggy

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME", "bhbfinder_get_reader",
           "bhbfinder_register_stages", "Reader", "PrepareStage", "BatchStage", "TableStage",
           "CatalogStage", "StageKind", "STAGE_KINDS", "stage_kinds", "HOT_STAR_CLASSES",
           "CATALOG_COLUMNS", "NEW_BHB_RULE"]

PROJECT_NAME = "bhbfinder"

#: The marker for hook specifications (used only in this module).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: The marker plugins put on their hook implementations.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -- what the hooks return ----------------------------------------------------------------------
@runtime_checkable
class Reader(Protocol):
    """What ``bhbfinder_get_reader`` returns (`bhbfinder.io.base.Reader` is a base class).

    Attributes
    ----------
    name : str
        Recorded in each spectrum's ``reader`` meta column.
    checks_inflated_size : bool
        Optional (default False): the reader itself refuses gzip content that inflates beyond
        the read limits, so the pipeline need not inflate the file once more to check.
    """

    name: str

    def read_arrays(self, path: str) -> Any:
        """One file as `~bhbfinder.io.base.SpectrumArrays`: vacuum wavelength (Å), flux, ivar,
        mask and a meta dict with the keys of `bhbfinder.io.base.META_SCHEMA` (``None`` where
        unknown). Further keys with plain values become catalogue columns of their own.
        Raises `~bhbfinder.errors.SpectrumReadError` naming the file and the reason."""

    def read_spectrum(self, path: str) -> Any:
        """One file as a `specutils.Spectrum`."""


@runtime_checkable
class PrepareStage(Protocol):
    """A ``prepare`` stage: the chunk's spectra from their native grids to a model's grid."""

    def run(self, raw: Any) -> Any:
        """`~bhbfinder.batch.RawBatch` ─► `~bhbfinder.batch.PreparedBatch`, one row per input
        in the same order; a row that cannot be prepared gets its reason in ``status``."""


@runtime_checkable
class BatchStage(Protocol):
    """A stage that works on each chunk's prepared spectra (``classify``, ``balmer``,
    ``params``).

    Attributes
    ----------
    prepare_config : `~bhbfinder.spectra.prepare.PrepareConfig` or None
        How the spectra must be prepared for it (its model's preprocessing); the pipeline
        prepares each chunk once per configuration. None (default): as the classifier's.
    wavelength : ndarray or None
        The grid its model was trained on; with ``prepare_config`` the pipeline checks every
        prepared chunk against it (`bhbfinder.spectra.prepare.check_prepared`) before ``run``.
        None (default): not checked.
    classes : tuple of str or None
        The stage-1 classes it runs on; other rows get masked columns. None: every row.
        Default: the kind's `StageKind.classes`.
    """

    prepare_config: Any
    wavelength: Any
    classes: Any

    def run(self, prepared: Any) -> Any:
        """`~bhbfinder.batch.PreparedBatch` ─► `~astropy.table.Table` of the columns it adds,
        one row per spectrum in the same order (masked where it has no answer); its ``meta``
        travels to the catalogue's."""


@runtime_checkable
class TableStage(Protocol):
    """A stage that works on each chunk's table after the batch stages (``verdict``: it reads
    their columns, measures nothing itself)."""

    def run(self, table: Any) -> Any:
        """The chunk's `~astropy.table.Table` ─► the columns it adds, one row per spectrum;
        its ``meta`` travels to the catalogue's (the verdict's threshold and prevalence)."""


@runtime_checkable
class CatalogStage(Protocol):
    """A stage that works on the assembled catalogue (all chunks, in input order)."""

    def run(self, catalog: Any) -> Any:
        """The catalogue `~astropy.table.Table` ─► the columns it adds, one row per row."""


# -- the stage kinds -----------------------------------------------------------------------------
@dataclass(frozen=True)
class StageKind:
    """A kind of pipeline stage.

    Attributes
    ----------
    name : str
    level : {"prepare", "batch", "table", "catalog"}
        When its stages run: preparing each chunk, on each chunk's prepared spectra, on each
        chunk's table after the batch stages, or once on the assembled catalogue.
    protocol : type
        What its stages provide.
    default : str
        The registered stage that runs when the user names none.
    description : str
    online : bool
        Its default stage queries a remote service: it runs with ``online=True`` or when named.
    classes : tuple of str or None
        Batch kinds: the stage-1 classes a stage runs on unless it says otherwise (``classes``).
    """

    name: str
    level: str
    protocol: type
    default: str
    description: str
    online: bool = False
    classes: tuple | None = None


#: Stage-1 classes whose spectra the ``balmer`` and ``params`` stages measure by default: the hot
#: stars the shipped models cover (F/G/K stars, white dwarfs and hot subdwarfs get masked values).
HOT_STAR_CLASSES = ("BHB", "A", "B")

#: Every stage kind, in pipeline order (the one registry: the pipeline, the stage registry and
#: the command line take their lists from here).
STAGE_KINDS = {kind.name: kind for kind in (
    StageKind("prepare", "prepare", PrepareStage, "default",
              "RawBatch -> PreparedBatch: rest frame, resampling to the model grid, "
              "normalisation"),
    StageKind("classify", "batch", BatchStage, "msfanet",
              "PreparedBatch -> Table: stage-1 class, BHB probabilities, is_bhb_candidate"),
    StageKind("balmer", "batch", BatchStage, "sersic",
              "PreparedBatch -> Table: Balmer-line profile fits and balmer_confirmed",
              classes=HOT_STAR_CLASSES),
    StageKind("params", "batch", BatchStage, "slam-emulator",
              "PreparedBatch -> Table: Teff, log g, [Fe/H] with uncertainties",
              classes=HOT_STAR_CLASSES),
    StageKind("verdict", "table", TableStage, "logistic",
              "Table -> Table: p_bhb and is_bhb from the columns of the batch stages"),
    StageKind("crossmatch", "catalog", CatalogStage, "gaia-dr3",
              "catalogue Table -> Table: Gaia DR3 columns, CMD region, distance", online=True),
    StageKind("dedup", "catalog", CatalogStage, "sky-fof",
              "catalogue Table -> Table: group_id, group_size, is_representative"),
    StageKind("known", "catalog", CatalogStage, "catalogs",
              "catalogue Table -> Table: known_catalog (already published BHB stars)",
              online=True),
)}


def stage_kinds(level=None):
    """The names of the stage kinds (of one ``level``), in pipeline order."""
    return tuple(name for name, kind in STAGE_KINDS.items()
                 if level is None or kind.level == level)


# -- the catalogue -------------------------------------------------------------------------------
#: Columns every catalogue has, whatever stages ran: name -> (type, unit, description). The
#: type is ``str``, ``int`` (int64), ``float`` or ``bool``; the unit an astropy unit string.
CATALOG_COLUMNS = {
    "file": (str, None, "input file (or <memory:N> for in-memory spectra)"),
    "obsid": (int, None, "survey observation id (LAMOST obsid)"),
    "ra": (float, "deg", "right ascension from the spectrum header (ICRS)"),
    "dec": (float, "deg", "declination from the spectrum header (ICRS)"),
    "snr_g": (float, None, "signal-to-noise ratio in the g band, from the header"),
    "status": (str, None, "'ok', or why this spectrum could not be processed"),
    "stage1_class": (str, None, "stage-1 class (BHB, A, B, HotSD, WD, other)"),
    "p_bhb_stage1": (float, None, "stage-1 probability of the BHB class"),
    "p_bhb_stage2": (float, None, "stage-2 (BHB vs hard negatives) probability of BHB "
                                  "(where stage 1 says BHB)"),
    "is_bhb_candidate": (bool, None, "classifier verdict: BHB candidate"),
    "balmer_confirmed": (bool, None, "Balmer-line profile criteria satisfied"),
    "p_bhb": (float, None, "probability of a BHB star, calibrated on held-out stars (verdict)"),
    "is_bhb": (bool, None, "final decision: p_bhb at or above the verdict's threshold"),
    "teff": (float, "K", "effective temperature"),
    "teff_err": (float, "K", "uncertainty of teff"),
    "logg": (float, "dex", "surface gravity log10(g / cm s^-2)"),
    "logg_err": (float, "dex", "uncertainty of logg"),
    "feh": (float, "dex", "metallicity [Fe/H]"),
    "feh_err": (float, "dex", "uncertainty of feh"),
    "group_id": (int, None, "repeat-observation group (same star)"),
    "group_size": (int, None, "number of spectra in the group"),
    "is_representative": (bool, None, "the spectrum chosen to represent its group"),
    "known_catalog": (str, None, "published BHB catalogue the star is already in ('' if none)"),
    "gaia_source_id": (int, None, "Gaia DR3 source_id of the matched star"),
    "in_bhb_cmd_region": (bool, None, "inside the BHB region of the Gaia CMD (Culpan+2024)"),
    "distance": (float, "kpc", "heliocentric distance"),
    "is_new_bhb": (bool, None, "is_bhb (or, without a verdict, candidate and Balmer-"
                               "confirmed), representative and not already known"),
}


#: How the pipeline derives ``is_new_bhb`` from the stages' columns: a BHB star by the
#: ``decision`` columns (the verdict's; where the verdict did not run, the ``fallback``: the
#: classifier's candidates that the Balmer criteria confirm), that also satisfies ``also``
#: (the representative of its repeat visits) and is in no known catalogue (``known``, empty
#: when none). Masked where it cannot be told (a column masked and none known to fail).
NEW_BHB_RULE = {
    "decision": ("is_bhb",),
    "fallback": ("is_bhb_candidate", "balmer_confirmed"),
    "also": ("is_representative",),
    "known": "known_catalog",
}


# -- the hooks -----------------------------------------------------------------------------------
@hookspec(firstresult=True)
def bhbfinder_get_reader(path: str, head: bytes) -> Reader | None:
    """Return a reader for a spectrum file, or ``None`` if this plugin does not read it.

    Called for each input file; the first non-``None`` answer wins. Plugins registered through
    entry points are asked before the built-in readers, which are marked ``trylast``, so a
    plugin can take over a format the package already reads.

    Parameters
    ----------
    path : str
        The file's path.
    head : bytes
        The first 2880 bytes of the file's *decompressed* content (one FITS block), so a
        reader can sniff headers without opening the file again
        (`bhbfinder.io.sniff.header_cards` parses its cards). gzip content is already
        inflated here whatever the file's suffix.

    Returns
    -------
    reader : `Reader` or None
    """


@hookspec
def bhbfinder_register_stages() -> list:
    """Register named implementations of pipeline stages.

    Returns
    -------
    stages : list of `bhbfinder.stages.StageInfo`
        Each names a stage kind (one of `STAGE_KINDS`), a name unique within the kind, a
        factory ``factory(**options) -> stage`` and a one-line description. The stage
        provides what its kind's protocol says (`StageKind.protocol`). A later registration of
        the same kind and name replaces an earlier one, so plugins (registered after the
        built-ins) can override a built-in stage.
    """
