"""`find_bhb` and `Pipeline`: the stages tied into a streaming, resumable, parallel run.

A run reads its inputs in chunks. Each chunk goes through the *batch* stages (prepare →
classify → balmer → params) wherever the executor runs it (this process, local processes, or
Dask workers); only arrays and tables cross process boundaries. Each finished chunk is written
at once to a part file beside the output, so an interrupted run loses nothing and ``resume=True``
carries on where it stopped. When every chunk is done, the *catalogue* stages (Gaia crossmatch,
de-duplication, known objects) run on the assembled catalogue and the output is written.

The modules, by concern: ``bhbfinder.pipeline.core`` (`Pipeline`, `find_bhb`: the stages and
the run), `bhbfinder.pipeline.sources` (the inputs), `bhbfinder.pipeline.executors` (where
chunks run), `bhbfinder.pipeline.checkpoint` (fingerprint and lock) and
`bhbfinder.pipeline.parts` (the chunk files). See :doc:`/architecture` for the path of one
spectrum through them.
"""

from .core import (
    BATCH_STAGES,
    CATALOG_STAGES,
    ONLINE_STAGES,
    READ_SECTION,
    STAGE_FAILED,
    STAGE_OK,
    STAGE_SKIPPED,
    TABLE_STAGES,
    Pipeline,
    find_bhb,
    incomplete_stages,
)
from .executors import SETUP_ERRORS, WORKER_RETRIES
from .sources import expand_source

__all__ = ["find_bhb", "Pipeline", "BATCH_STAGES", "TABLE_STAGES", "CATALOG_STAGES",
           "ONLINE_STAGES",
           "SETUP_ERRORS", "WORKER_RETRIES", "READ_SECTION", "STAGE_OK", "STAGE_SKIPPED",
           "STAGE_FAILED", "incomplete_stages", "expand_source"]
