"""Training material and its honest evaluation.

* `bhbfinder.training.heldout`: the real stars behind the training material, their audited
  labels, grouped K-fold splits in which every real BHB star is held out exactly once, the
  rendering of held-out stars as LAMOST spectra through the instrument model, and the scores
  (pooled, per star, per S/N and Teff bin) of a catalogue against them.
* `bhbfinder.training.folds`: the classifier and params models of one fold, and the pipeline run
  on the fold's held-out stars.
* `bhbfinder.training.params_heldout`: the params stage on held-out MILES stars rendered like
  survey spectra (field, noiseless, training-like, one instrument effect off at a time).
* `bhbfinder.training.params_recipe`: the shipped params model's recipe (library, held-out
  validation, calibrated errors).
* `bhbfinder.training.verdict_selection`: the verdict's settings chosen by inner
  cross-validation, nested inside every outer fold.
* `bhbfinder.training.label_noise`: how much of a held-out scatter is the published labels' own
  error (the three-cornered hat).
"""
