# Sphinx configuration for bhbfinder.
import datetime

from sphinx_astropy.conf.v2 import *  # noqa: F401,F403

import bhbfinder

project = "bhbfinder"
author = "bhbfinder developers"
copyright = f"{datetime.datetime.now().year}, {author}"
version = release = bhbfinder.__version__

extensions += ["sphinx_automodapi.automodapi"]  # noqa: F405
# builds run offline: do not fetch intersphinx inventories
intersphinx_mapping = {}
html_theme_options = {"github_url": "https://github.com/bhbfinder/bhbfinder"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
nitpicky = False
automodapi_toctreedirnm = "api"
# no graphviz needed to build the docs
automodapi_inheritance_diagram = False
