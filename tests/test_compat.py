"""The private APIs of other libraries that bhbfinder relies on (`bhbfinder._compat`).

Each test fails, naming the dependency, as soon as a new version changes what the workaround
relies on; the workaround itself would then fall back to the slower public path silently.
"""

import subprocess
import sys

import pytest

from bhbfinder import _compat
from bhbfinder._data import default_model_path


def _run(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_asdf_config_still_has_the_lazy_attributes():
    import asdf

    with asdf.config_context() as config:
        for name in ("_extensions", "_resource_mappings"):
            assert hasattr(config, name), (
                f"asdf {asdf.__version__}: AsdfConfig has no {name!r} any more; "
                "bhbfinder._compat.use_core_asdf_extensions must be revisited")


def test_core_asdf_extensions_open_a_model_without_the_extension_packages():
    """In a fresh process: the fast path is taken (only core extensions configured), the
    model opens, and no extension package such as asdf-astropy was imported."""
    code = (
        "import sys, asdf\n"
        "from bhbfinder._compat import use_core_asdf_extensions\n"
        f"path = {str(default_model_path('classify'))!r}\n"
        "with asdf.config_context() as config:\n"
        "    use_core_asdf_extensions(config)\n"
        "    assert config._extensions is not None, 'fell back to the slow path'\n"
        "    names = {e.package_name for e in config._extensions}\n"
        "    with asdf.open(path, lazy_load=False, memmap=False) as af:\n"
        "        assert 'bhbfinder_classifier' in af.tree\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in "
        "('asdf_astropy', 'gwcs', 'ndcube')]\n"
        "print(sorted(names), loaded)\n"
    )
    names, loaded = _run(code).split("] ", 1)
    assert "asdf" in names
    assert loaded == "[]", f"asdf imported extension packages: {loaded}"


def test_astropy_registry_keeps_reader_priorities():
    pytest.importorskip("specutils")
    from astropy.io import registry
    from specutils import Spectrum

    from bhbfinder.io.lamost import READER_NAME, SPECUTILS_PRIORITY, register_specutils_loader

    register_specutils_loader()
    assert isinstance(getattr(registry, "_readers", None), dict), (
        "astropy.io.registry has no _readers dict any more; revisit "
        "bhbfinder._compat.loader_priority")
    assert _compat.loader_priority(registry, READER_NAME, Spectrum) == SPECUTILS_PRIORITY
    assert _compat.loader_priority(registry, "no such format", Spectrum) == 0


def test_specutils_hook_registers_the_lamost_loader_after_import():
    pytest.importorskip("specutils")
    code = (
        "import sys, bhbfinder\n"
        "assert 'specutils' not in sys.modules, 'import bhbfinder imported specutils'\n"
        "from astropy.io import registry\n"
        "from specutils import Spectrum\n"
        "print('LAMOST-LRS' in registry.get_formats(Spectrum)['Format'])\n"
    )
    assert _run(code) == "True", "specutils' loader changed: the import hook did not run"
