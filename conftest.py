"""Test configuration shared by tests/ and the doctests in docs/.

Real-data tests take the folder of real survey files from ``--bhb-data`` or the environment
variable ``BHBFINDER_TEST_DATA`` and skip cleanly without it; with ``BHBFINDER_REQUIRE_DATA=1``
(set by CI) a missing folder is an error instead, so CI cannot go green by skipping them.
"""

import os
from pathlib import Path

import pytest

try:
    from pytest_astropy_header.display import PYTEST_HEADER_MODULES

    PYTEST_HEADER_MODULES.clear()
    PYTEST_HEADER_MODULES.update({
        "Numpy": "numpy", "Scipy": "scipy", "Astropy": "astropy", "specutils": "specutils",
        "torch": "torch", "pluggy": "pluggy", "asdf": "asdf",
    })
except ImportError:  # pragma: no cover
    pass


def pytest_addoption(parser):
    parser.addoption("--bhb-data", action="store", default=None,
                     help="folder of real survey files (../shared/data layout)")


def pytest_configure(config):
    config.option.astropy_header = True


@pytest.fixture(scope="session")
def shared_data(request):
    """The folder of real survey files, or skip (fail under BHBFINDER_REQUIRE_DATA=1)."""
    folder = request.config.getoption("--bhb-data") or os.environ.get("BHBFINDER_TEST_DATA")
    if folder and Path(folder).is_dir():
        return Path(folder).resolve()
    message = ("real survey files not available: pass --bhb-data DIR or set "
               "BHBFINDER_TEST_DATA")
    if os.environ.get("BHBFINDER_REQUIRE_DATA") == "1":
        pytest.fail(message)
    pytest.skip(message)
