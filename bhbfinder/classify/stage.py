"""The ``classify`` stage ``msfanet``: a two-stage MSFA-Net over a `PreparedBatch`.

Output columns (one row per spectrum, same order; rows whose ``status`` is not ``"ok"`` are
masked):

``stage1_class``
    Most probable stage-1 class (`bhbfinder.classify.classifier.CLASSES` for the default model).
``stage1_prob``
    Stage-1 probabilities, shape ``(n, n_classes)``, in the order of ``meta["classes"]``.
``p_bhb_stage1``, ``p_bhb_stage2``
    Probability of BHB from stage 1 and from the stage-2 binary network (by default computed
    where stage 1 says BHB, the only rows where it changes the decision; masked elsewhere;
    ``stage2_rows="all"`` scores every row).
``is_bhb_candidate``
    ``stage1_class == "BHB"`` and ``p_bhb_stage2 ≥ threshold`` (threshold from the model file,
    chosen on validation for the precision target).
"""

import numpy as np
from astropy.table import MaskedColumn, Table

from ..batch import STATUS_OK
from ..hookspecs import hookimpl
from ..stages import StageInfo

__all__ = ["ClassifyStage", "classify_batch", "bhbfinder_register_stages"]


def classify_batch(classifier, batch, batch_size=None, device=None, stage2_rows="bhb"):
    """Run ``classifier`` on the good rows of ``batch``; the output Table described above.

    Raises
    ------
    PreprocessingMismatchError
        When ``batch`` was prepared unlike the model's training data.
    """
    classifier.check_compatible(batch.config, batch.wavelength)
    n = len(batch)
    ok = np.asarray(batch.meta["status"]) == STATUS_OK if n else np.zeros(0, bool)
    ncls = len(classifier.classes)
    idx = np.nonzero(ok)[0]
    res = classifier.predict_arrays(batch.flux[idx], batch.mask[idx], batch.ivar[idx],
                                    batch_size=batch_size, device=device,
                                    stage2_rows=stage2_rows)
    names = np.full(n, "", dtype=f"U{max(len(c) for c in classifier.classes)}")
    names[idx] = np.asarray(classifier.classes)[res["stage1_index"]]
    probs = np.full((n, ncls), np.nan)
    probs[idx] = res["stage1_probabilities"]
    pb1 = np.full(n, np.nan)
    pb1[idx] = res["p_bhb_stage1"]
    pb2 = np.full(n, np.nan)
    pb2[idx] = res["p_bhb_stage2"]
    cand = np.zeros(n, bool)
    cand[idx] = res["is_bhb_candidate"]
    bad = ~ok
    table = Table()
    table["stage1_class"] = MaskedColumn(names, mask=bad,
                                         description="most probable stage-1 class")
    table["stage1_prob"] = MaskedColumn(probs, mask=np.repeat(bad[:, None], ncls, axis=1),
                                        description="stage-1 class probabilities "
                                                    "(order: meta['classes'])")
    table["p_bhb_stage1"] = MaskedColumn(pb1, mask=bad, description="P(BHB) from stage 1")
    table["p_bhb_stage2"] = MaskedColumn(pb2, mask=bad | np.isnan(pb2),
                                         description="P(BHB) from the stage-2 binary network")
    table["is_bhb_candidate"] = MaskedColumn(
        cand, mask=bad, description="stage-1 class BHB and p_bhb_stage2 >= threshold")
    table.meta["classes"] = list(classifier.classes)
    table.meta["bhb_threshold"] = classifier.threshold
    return table


class ClassifyStage:
    """The ``msfanet`` classify stage.

    Parameters
    ----------
    model : str, path-like or TwoStageClassifier, optional
        Model file or a loaded classifier; default the shipped pretrained model.
    device : str, optional
        ``"cpu"``, ``"cuda"``, ... (default: CUDA when available).
    batch_size : int, optional
        Spectra per forward pass (default 32 on CPUs, 512 on GPUs).
    threshold : float, optional
        Override the stored stage-2 threshold.
    stage2_rows : {"bhb", "all"}
        Where stage 2 runs: on the rows stage 1 calls BHB (default), or on every row.
    """

    def __init__(self, model=None, device=None, batch_size=None, threshold=None,
                 stage2_rows="bhb"):
        from .classifier import TwoStageClassifier
        from .modelfile import load_model

        if isinstance(model, TwoStageClassifier):
            self.classifier = model.to(device) if device is not None else model
        else:
            self.classifier = load_model(model, device=device)
        if threshold is not None:
            self.classifier.threshold = float(threshold)
        self.batch_size = None if batch_size is None else int(batch_size)
        from .classifier import check_stage2_rows

        self.stage2_rows = check_stage2_rows(stage2_rows)  # fail when built, not per chunk

    @property
    def prepare_config(self):
        """The model's preprocessing (`~bhbfinder.spectra.prepare.PrepareConfig`, or the stored
        dict when the prepare module is unavailable); the pipeline prepares batches with it."""
        cfg = self.classifier.prepare_config
        if cfg is None:
            return None
        try:
            from ..spectra.prepare import PrepareConfig
        except ImportError:
            return cfg
        return PrepareConfig.from_dict(cfg)

    def run(self, batch):
        """Classify a `~bhbfinder.batch.PreparedBatch`; returns the Table described above."""
        return classify_batch(self.classifier, batch, batch_size=self.batch_size,
                              stage2_rows=self.stage2_rows)


@hookimpl
def bhbfinder_register_stages():
    return [StageInfo("classify", "msfanet", ClassifyStage,
                      "two-stage MSFA-Net (stage 1: BHB/A/B/HotSD/WD/other; stage 2: BHB vs "
                      "hard negatives)")]
