"""The package's structure: no import cycles, and science modules free of the pipeline.

The rule (docs/architecture.rst): arrows point one way. The science modules (spectra, balmer,
params, classify, crossmatch, simulate, verdict) take and return arrays and plain objects and
never import the pipeline, the stage registry, the plugin manager or the batch containers; the
stage adapters import the science.
"""

import ast
import concurrent.futures
import json
import subprocess
import sys
from pathlib import Path

import bhbfinder

PACKAGE = Path(bhbfinder.__file__).resolve().parent

#: Packages of science code.
SCIENCE = ("spectra", "balmer", "params", "classify", "crossmatch", "simulate", "verdict")
#: Modules of those packages that are not science: the plots of a stage's output and the
#: training recipes.
NOT_SCIENCE = {"plotting.py", "recipes.py"}
#: What a science module must never import: the pipeline, the stage registry and its adapters
#: (``bhbfinder.stages.*``), the plugin manager, the batch containers, the training layer.
FORBIDDEN = ("bhbfinder.pipeline", "bhbfinder.stages", "bhbfinder.plugins", "bhbfinder.batch",
             "bhbfinder.training")
#: Imports inside functions that a science module may still make, each with its reason.
ALLOWED_INSIDE_FUNCTIONS = {
    # a convenience for the pipeline's users: simulated spectra as the pipeline's input
    ("bhbfinder.simulate.simulated", "bhbfinder.batch"),
}


def _modules():
    """``{module name: path}`` of every module of the package."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts).removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _imports(name, path):
    """``[(target module, inside a function?, node)]`` of a module, resolved to the package's
    modules (``from pkg import submodule`` points at the submodule)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            inside.update(id(n) for n in ast.walk(fn) if n is not fn)
    lazy_getattr = set()  # a package's lazy re-exports for users (module __getattr__)
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef) and fn.name == "__getattr__":
            lazy_getattr.update(id(n) for n in ast.walk(fn))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module
                       for a in node.names]
        else:
            continue
        for target in targets:
            if target in MODULES and target != name:
                out.append((target, id(node) in inside, id(node) in lazy_getattr, node))
    return out


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    """Every import counts, at module level or inside a function: an import moved into a
    function hides a cycle from Python, not from the design."""
    graph = {name: {target for target, *_ in _imports(name, path)}
             for name, path in MODULES.items()}
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_cycle_detection_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _science_modules():
    return sorted(name for name, path in MODULES.items()
                  if name.split(".")[1:2] and name.split(".")[1] in SCIENCE
                  and path.name not in NOT_SCIENCE)


def test_science_modules_do_not_import_the_pipeline():
    """Static check of every import statement, those inside functions included."""
    bad = []
    for name in _science_modules():
        for target, in_function, lazy, node in _imports(name, MODULES[name]):
            if not target.startswith(FORBIDDEN) or lazy:
                continue
            if in_function and (name, target) in ALLOWED_INSIDE_FUNCTIONS:
                continue
            bad.append(f"{name}:{node.lineno} imports {target}")
    assert not bad, "\n".join(bad)


_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


def _probe(module):
    out = subprocess.run([sys.executable, "-c", _PROBE, module], capture_output=True,
                         text=True, cwd=PACKAGE.parent)
    assert out.returncode == 0, f"importing {module} failed:\n{out.stderr[-2000:]}"
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    return [m for m in loaded if m.startswith(FORBIDDEN)]


def test_science_modules_import_alone():
    """Imported in a fresh interpreter, a science module loads none of the pipeline, the stage
    registry, the plugin manager, the batch containers or a stage adapter."""
    modules = _science_modules()
    assert len(modules) > 40
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        loaded = dict(zip(modules, pool.map(_probe, modules), strict=True))
    bad = {module: found for module, found in loaded.items() if found}
    assert not bad, f"science modules that load the pipeline: {bad}"


def test_the_probe_sees_the_pipeline():
    assert {"bhbfinder.batch", "bhbfinder.stages"} <= set(_probe("bhbfinder.stages.prepare"))
