# Sphinx configuration for bhbfinder.
import datetime
import os

from sphinx_astropy.conf.v2 import *  # noqa: F401,F403

import bhbfinder

project = "bhbfinder"
author = "bhbfinder developers"
copyright = f"{datetime.datetime.now().year}, {author}"
version = release = bhbfinder.__version__

extensions += ["sphinx_automodapi.automodapi"]  # noqa: F405
html_theme_options = {"github_url": "https://github.com/bhbfinder/bhbfinder"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# -- links to other projects -----------------------------------------------------------------
# The docs build without the network (CI has none): an inventory is used only when it can be
# had without fetching it, from docs/_intersphinx/NAME.inv (a local copy, not committed), or
# when BHBFINDER_DOCS_INTERSPHINX=online asks for fetching (a build with the network).
# References to these projects that cannot be linked are rendered plainly (nitpick_ignore_regex
# below), so `sphinx-build -n -W` passes either way; every reference to bhbfinder's own objects
# must resolve.
_INTERSPHINX = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "astropy": "https://docs.astropy.org/en/stable/",
    "specutils": "https://specutils.readthedocs.io/en/stable/",
    "astroquery": "https://astroquery.readthedocs.io/en/latest/",
    "torch": "https://pytorch.org/docs/stable/",
    "matplotlib": "https://matplotlib.org/stable/",
    "sklearn": "https://scikit-learn.org/stable/",
    "asdf": "https://asdf.readthedocs.io/en/stable/",
    "pluggy": "https://pluggy.readthedocs.io/en/stable/",
    "distributed": "https://distributed.dask.org/en/stable/",
}
_LOCAL_INVENTORIES = os.path.join(os.path.dirname(__file__), "_intersphinx")
_ONLINE = os.environ.get("BHBFINDER_DOCS_INTERSPHINX") == "online"
intersphinx_mapping = {}
for _name, _url in _INTERSPHINX.items():
    _local = os.path.join(_LOCAL_INVENTORIES, f"{_name}.inv")
    if os.path.isfile(_local):
        intersphinx_mapping[_name] = (_url, _local)
    elif _ONLINE:
        intersphinx_mapping[_name] = (_url, None)

nitpicky = True
_EXTERNAL = ("numpy", "scipy", "astropy", "specutils", "astroquery", "torch", "matplotlib",
             "sklearn", "asdf", "pluggy", "distributed", "dask", "concurrent", "collections",
             "typing", "pathlib", "os", "io", "zlib", "json", "contextvars", "multiprocessing",
             "threading", "tomllib",
             # the example SDSS plugin is a package of its own (examples/bhbfinder-sdss)
             "bhbfinder_sdss")
nitpick_ignore_regex = [
    ("py:.*", rf"({'|'.join(_EXTERNAL)})(\..*)?"),
    # external names written without their package in docstrings (``Module`` in torch's
    # inherited members, ``InverseVariance``, ``Spectrum``)
    ("py:.*", r"(Module|InverseVariance|Spectrum|Spectrum1D|SpectrumList|Table|QTable|"
              r"MaskedColumn|Quantity|SkyCoord|ndarray|Executor|Client)"),
    # pluggy's own docstrings, inherited by BHBPluginManager
    ("py:.*", r"get_canonical_name"),
]
automodapi_toctreedirnm = "api"
# no graphviz needed to build the docs
automodapi_inheritance_diagram = False


def _resolve_bare_name(app, env, node, contnode):
    """Link a bare `Name` to the one bhbfinder object of that name documented anywhere.

    Docstrings name objects of other modules as they are known in the code (`find_bhb`,
    `SpectrumArrays`); Sphinx looks them up only in the current module. A name documented once
    (or once in the current package, the shortest path winning) is linked; anything else is
    left to nitpicky mode to report.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    if target.startswith("bhbfinder."):
        return None  # a full path that is not documented: leave it to nitpicky mode
    domain = env.get_domain("py")
    found = [full for full in domain.objects
             if full.startswith("bhbfinder.") and full.endswith("." + target)]
    if not found:
        return None
    module = node.get("py:module") or ""
    local = [full for full in found if module and full.startswith(module + ".")]
    full = min(local or found, key=lambda f: (f.count("."), f))
    from sphinx.util.nodes import make_refnode

    obj = domain.objects[full]
    return make_refnode(app.builder, node["refdoc"], obj.docname, obj.node_id, contnode, full)


def setup(app):
    app.connect("missing-reference", _resolve_bare_name)
