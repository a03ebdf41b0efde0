"""Fixtures of the bhbfinder-sdss tests: SDSS-layout files written here, the real-data folder.

These tests run from the plugin's own folder (``python -m pytest examples/bhbfinder-sdss/tests``
uses the plugin's ``pyproject.toml``), so bhbfinder's own conftest is not loaded and the
``shared_data`` fixture is defined again here with the same rules: the folder comes from
``BHBFINDER_TEST_DATA``; without it the real-data tests skip, unless ``BHBFINDER_REQUIRE_DATA=1``
(set by CI), which makes a missing folder a failure.
"""

import os
from pathlib import Path

import pytest
from sdss_files import write_sdss_spec

from bhbfinder import plugins


@pytest.fixture
def sdss_file(tmp_path):
    """An SDSS-I/II spec file written in ``tmp_path`` (the truth: `sdss_truth()`)."""
    return write_sdss_spec(tmp_path)


@pytest.fixture
def pm():
    """bhbfinder's plugin manager rebuilt for the test (entry points re-read), then restored."""
    saved = plugins._manager
    manager = plugins.get_plugin_manager(reload=True)
    yield manager
    plugins._manager = saved


@pytest.fixture(scope="session")
def shared_data(request):
    """The folder of real survey files, or skip (fail under BHBFINDER_REQUIRE_DATA=1)."""
    folder = request.config.getoption("--bhb-data", default=None) or os.environ.get(
        "BHBFINDER_TEST_DATA")
    if folder and Path(folder).is_dir():
        return Path(folder).resolve()
    message = "real survey files not available: set BHBFINDER_TEST_DATA to the data folder"
    if os.environ.get("BHBFINDER_REQUIRE_DATA") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def sdss_paths(shared_data):
    """The real SDSS spec files (sdss/ in the shared data folder)."""
    paths = sorted((shared_data / "sdss").glob("spec-*.fits"))
    if not paths:
        pytest.fail(f"no spec-*.fits in {shared_data / 'sdss'}")
    return paths
