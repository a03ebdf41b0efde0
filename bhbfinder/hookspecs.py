"""The plugin contract of bhbfinder: every hook a plugin may implement.

This module is the whole contract. A plugin is any module or object with functions named like
the hooks below and decorated with :data:`hookimpl`; it is found through the entry-point group
``bhbfinder.plugins`` (see :doc:`/plugins`). The built-in readers and stages are plugins of exactly
the same kind, registered before the entry points.

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
"""

import pluggy

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME", "STAGE_KINDS", "bhbfinder_get_reader",
           "bhbfinder_register_stages"]

PROJECT_NAME = "bhbfinder"

#: The marker for hook specifications (used only in this module).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: The marker plugins put on their hook implementations.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: The kinds of pipeline stage, in pipeline order, and what each one consumes and returns.
#: Batch stages run chunk by chunk; catalogue stages run on the assembled catalogue.
STAGE_KINDS = {
    "prepare": "RawBatch -> PreparedBatch: rest frame, resampling to the model grid, normalisation",
    "classify": "PreparedBatch -> Table: stage-1 class, BHB probabilities, is_bhb_candidate",
    "balmer": "PreparedBatch -> Table: Balmer-line profile fits and balmer_confirmed",
    "params": "PreparedBatch -> Table: Teff, log g, [Fe/H] with uncertainties",
    "verdict": "Table -> Table: p_bhb and is_bhb from the columns of the batch stages",
    "dedup": "catalogue Table -> Table: group_id, group_size, is_representative",
    "known": "catalogue Table -> Table: known_catalog (already published BHB stars)",
    "crossmatch": "catalogue Table -> Table: Gaia DR3 columns, CMD region, distance",
}


@hookspec(firstresult=True)
def bhbfinder_get_reader(path, head):
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
        reader can sniff headers without opening the file again. gzip content is already
        inflated here whatever the file's suffix.

    Returns
    -------
    reader : `bhbfinder.io.base.Reader` or None
        An object with ``read_arrays(path)`` and ``read_spectrum(path)``.
    """


@hookspec
def bhbfinder_register_stages():
    """Register named implementations of pipeline stages.

    Returns
    -------
    stages : list of `bhbfinder.stages.StageInfo`
        Each names a stage kind (one of :data:`STAGE_KINDS`), a name unique within the kind,
        a factory ``factory(**options) -> stage`` and a one-line description. The stage object
        has a ``run(data)`` method with the signature its kind defines in
        :data:`STAGE_KINDS`: batch stages get a batch and return a `~astropy.table.Table`
        with one row per spectrum in the same order (``prepare`` returns a
        `~bhbfinder.batch.PreparedBatch`); catalogue stages get the whole catalogue and return
        the columns they add. A later registration of the same kind and name replaces an
        earlier one, so plugins (registered after the built-ins) can override a built-in stage.
    """
