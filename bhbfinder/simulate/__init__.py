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

from .._lazy import lazy_exports

_LAZY = {
    "AnalyticLibrary": "analytic", "analytic_spectrum": "analytic",
    "analytic_templates": "analytic", "sample_parameters": "analytic",
    "CLASSES": "classes", "STAGE1_CLASSES": "classes", "class_index": "classes",
    "classify_star": "classes", "culpan_kiel_box": "classes", "culpan_kiel_limits": "classes",
    "AUGMENT_PRESETS": "library", "TrainingLibrary": "library", "build_library": "library",
    "LAMOST_RESOLVING_POWER": "simulator", "MASK_BITS": "simulator",
    "SimulatedSpectra": "simulator", "SimulationConfig": "simulator",
    "lamost_wavelength": "simulator", "simulate": "simulator", "simulate_junk": "simulator",
    "simulate_rows": "simulator", "simulate_files": "files",
    "TemplateLibrary": "templates", "load_eigenstars": "templates", "load_miles": "templates",
}

__all__ = [
    "CLASSES", "STAGE1_CLASSES", "class_index", "classify_star", "culpan_kiel_box",
    "culpan_kiel_limits",
    "TemplateLibrary", "load_miles", "load_eigenstars",
    "AnalyticLibrary", "analytic_spectrum", "analytic_templates", "sample_parameters",
    "SimulationConfig", "SimulatedSpectra", "LAMOST_RESOLVING_POWER", "MASK_BITS",
    "lamost_wavelength", "simulate", "simulate_rows", "simulate_junk", "simulate_files",
    "TrainingLibrary", "build_library", "AUGMENT_PRESETS",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
