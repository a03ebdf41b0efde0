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

from ..hookspecs import hookimpl
from ..spectra.prepare import PrepareConfig
from . import StageInfo

__all__ = ["ClassifyStage", "bhbfinder_register_stages"]


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

    #: Every spectrum is classified (see `bhbfinder.hookspecs.BatchStage`).
    classes = None

    def __init__(self, model=None, device=None, batch_size=None, threshold=None,
                 stage2_rows="bhb"):
        # torch: imported when the stage is built, not when the plugin manager lists it
        from ..classify.classifier import TwoStageClassifier, check_stage2_rows, classify_batch
        from ..classify.modelfile import load_model

        self._classify = classify_batch
        if isinstance(model, TwoStageClassifier):
            self.classifier = model.to(device) if device is not None else model
        else:
            self.classifier = load_model(model, device=device)
        if threshold is not None:
            self.classifier.threshold = float(threshold)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.stage2_rows = check_stage2_rows(stage2_rows)  # fail when built, not per chunk

    @property
    def prepare_config(self):
        """The model's preprocessing (`~bhbfinder.spectra.prepare.PrepareConfig`); the pipeline
        prepares batches with it."""
        cfg = self.classifier.prepare_config
        return None if cfg is None else PrepareConfig.from_dict(cfg)

    @property
    def wavelength(self):
        """The wavelength grid the model was trained on (None when the file has none)."""
        return self.classifier.wavelength

    def run(self, batch):
        """Classify a `~bhbfinder.batch.PreparedBatch`; returns the Table described above."""
        return self._classify(self.classifier, batch, batch_size=self.batch_size,
                              stage2_rows=self.stage2_rows)


@hookimpl
def bhbfinder_register_stages():
    return [StageInfo("classify", "msfanet", ClassifyStage,
                      "two-stage MSFA-Net (stage 1: BHB/A/B/HotSD/WD/other; stage 2: BHB vs "
                      "hard negatives)")]
