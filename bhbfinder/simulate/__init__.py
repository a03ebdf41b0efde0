"""LAMOST-like simulated spectra and training libraries.

* `CLASSES` (in `bhbfinder.simulate.classes`): the class labels everyone imports, and
  `classify_star`, the rule that labels real stars.
* Template sources: `load_miles`, `load_eigenstars` and the analytic model
  (`analytic_templates`, `analytic_spectrum`), all giving a `TemplateLibrary`.
* `simulate` / `simulate_rows` / `simulate_junk`: LAMOST-like spectra as arrays
  (`SimulatedSpectra`); `simulate_files` writes them as LAMOST files with a truth table.
* `build_library`: a class-balanced `TrainingLibrary` with provenance, ASDF save/load, splits by
  star, and ``to_raw_batch()`` for the ``prepare`` stage.
"""

from .analytic import AnalyticLibrary, analytic_spectrum, analytic_templates, sample_parameters
from .classes import (
    CLASSES,
    STAGE1_CLASSES,
    class_index,
    classify_star,
    culpan_kiel_box,
    culpan_kiel_limits,
)
from .library import AUGMENT_PRESETS, TrainingLibrary, build_library
from .simulator import (
    LAMOST_RESOLVING_POWER,
    MASK_BITS,
    SimulatedSpectra,
    SimulationConfig,
    lamost_wavelength,
    simulate,
    simulate_files,
    simulate_junk,
    simulate_rows,
)
from .templates import TemplateLibrary, load_eigenstars, load_miles

__all__ = [
    "CLASSES", "STAGE1_CLASSES", "class_index", "classify_star", "culpan_kiel_box",
    "culpan_kiel_limits",
    "TemplateLibrary", "load_miles", "load_eigenstars",
    "AnalyticLibrary", "analytic_spectrum", "analytic_templates", "sample_parameters",
    "SimulationConfig", "SimulatedSpectra", "LAMOST_RESOLVING_POWER", "MASK_BITS",
    "lamost_wavelength", "simulate", "simulate_rows", "simulate_junk", "simulate_files",
    "TrainingLibrary", "build_library", "AUGMENT_PRESETS",
]
