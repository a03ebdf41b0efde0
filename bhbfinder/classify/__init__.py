"""The two-stage MSFA-Net classifier (``classify`` stage ``msfanet``).

Importing this package imports torch. The pieces:

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
`~bhbfinder.classify.stage`
    the pipeline stage.
"""

from .classifier import CLASSES, TwoStageClassifier
from .modelfile import default_model_path, load_model, save_model
from .msfanet import MSFANet, architecture_config
from .training import label_spectra, split_by_star, train_two_stage

__all__ = ["CLASSES", "TwoStageClassifier", "MSFANet", "architecture_config", "load_model",
           "save_model", "default_model_path", "train_two_stage", "split_by_star",
           "label_spectra"]
