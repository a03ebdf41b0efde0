"""The two-stage MSFA-Net classifier (``classify`` stage ``msfanet``).

Importing this package is light: torch is imported when one of the names below is first used
(the plugin manager imports the stage module at start-up, and reading files must not pay for
torch). The pieces:

`~bhbfinder.classify.msfanet`
    the networks (`MSFANet`, its attention variants, the `PlainCNN` baseline);
`~bhbfinder.classify.classifier`
    `TwoStageClassifier`: both networks plus classes, input encoding, preprocessing, threshold;
`~bhbfinder.classify.training`
    `train_two_stage`, `split_by_star`, `label_spectra`;
`~bhbfinder.classify.metrics`
    precision / recall / F1, confusion matrix, precision–recall curve;
`~bhbfinder.classify.modelfile`
    `save_model` / `load_model` (ASDF, no pickle);
`~bhbfinder.stages.classify`
    the pipeline stage (in the adapters of `bhbfinder.stages`, which import this package).
"""

from .._lazy import lazy_exports

_LAZY = {
    "CLASSES": "classifier", "TwoStageClassifier": "classifier",
    "default_model_path": "modelfile", "load_model": "modelfile", "save_model": "modelfile",
    "MSFANet": "msfanet", "architecture_config": "msfanet",
    "label_spectra": "training", "split_by_star": "training", "train_two_stage": "training",
}

__all__ = ["CLASSES", "TwoStageClassifier", "MSFANet", "architecture_config", "load_model",
           "save_model", "default_model_path", "train_two_stage", "split_by_star",
           "label_spectra"]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
