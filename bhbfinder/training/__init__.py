"""Training material and its honest evaluation.

* `bhbfinder.training.heldout`: the real stars behind the training material, their audited
  labels, grouped K-fold splits in which every real BHB star is held out exactly once, the
  rendering of held-out stars as LAMOST spectra through the instrument model, and the scores
  (pooled, per star, per S/N and Teff bin) of a catalogue against them.
"""
