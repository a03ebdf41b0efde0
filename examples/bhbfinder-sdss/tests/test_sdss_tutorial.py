"""The "Writing a reader plugin" page's examples, run with the plugin installed.

bhbfinder's own doctest run skips them (``doctest-requires:: bhbfinder_sdss``) because CI
installs the plugin only after the main test suite; they run here instead.
"""

import doctest
import warnings
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[3] / "docs" / "plugin_tutorial.rst"


@pytest.mark.skipif(not TUTORIAL.is_file(), reason="not in a bhbfinder source tree")
def test_tutorial_examples(pm):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = doctest.testfile(str(TUTORIAL), module_relative=False, verbose=False,
                                  optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 20
    assert result.failed == 0
