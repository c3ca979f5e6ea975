"""The package's shape, as docs/design.md draws it: which room may import which, and no import cycle.

Imports inside functions count: a deferred import is still an arrow between two modules.
"""

import ast
import os

import pytest

from helpers import REPO

PACKAGE = "recbole_hydra"
ROOT = os.path.join(REPO, PACKAGE)

# room → the rooms it may import. Leaves first; `package` is recbole_hydra/__init__.py itself,
# which child processes import to register HydraRec with RecBole.
ALLOWED = {
    "config_errors": set(),
    "files": set(),
    "model": {"config_errors"},
    "runtime": {"model", "data", "config_errors", "files"},
    "data": {"config_errors", "files"},
    "online": {"model", "runtime", "config_errors", "files"},
    "serving": {"model", "runtime", "online", "config_errors", "files"},
    "experiments": {"package", "model", "runtime", "online", "serving", "data", "config_errors", "files"},
    "cli": {"package", "model", "runtime", "online", "serving", "data", "experiments", "config_errors", "files"},
    "package": {"model", "online", "runtime"},
}
# experiments/ by job: sub-room → the sub-rooms it may import. The two commands at the top of the room
# ('', i.e. compare.py and tune.py) plan, run and write: they may import every sub-room, none imports them.
EXPERIMENT_ROOMS = {
    "grids": set(),  # what runs: model specs, rows, runs and their settings, one budget
    "runners": set(),  # where a run trains: this machine, a Ray cluster
    "benchmarks": {"grids"},  # what a benchmark measures, and how
    "reports": {"grids", "benchmarks"},  # tables and files, in the words of what made them
    "": {"grids", "runners", "benchmarks", "reports"},
}
ONLY_IN_EXPERIMENTS = ("ray", "matplotlib", "optuna")
RAY_ALSO_IN = ("serving",)  # Ray Serve's replicas (serving/ray_serve.py)
# RecBole's internals are known in one room, runtime/, and by the model, which keeps RecBole's model
# contract (its mixers excepted, see PURE_TORCH): when RecBole changes, only these need a look.
RECBOLE_ROOMS = ("runtime", "model")
# The token mixers know nothing of RecBole: every module of model/mixers/.
PURE_TORCH = tuple(
    f"model/mixers/{name}" for name in sorted(os.listdir(os.path.join(ROOT, "model", "mixers"))) if name.endswith(".py")
)


def _modules():
    """{module name: path} of every module in the package."""
    found = {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                found[module.removesuffix(".__init__")] = path
    return found


def _imports(path, module):
    """Every module name `path` imports, at any depth (relative imports resolved)."""
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def _room(module):
    parts = module.split(".")
    return "package" if len(parts) == 1 else parts[1]


MODULES = _modules()
GRAPH = {
    module: {name for name in _imports(path, module) if name in MODULES and name != module}
    for module, path in MODULES.items()
}


def test_every_module_lives_in_a_known_room():
    assert {_room(module) for module in MODULES} == set(ALLOWED)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_one_way(module):
    room = _room(module)
    crossing = {name for name in GRAPH[module] if _room(name) != room}
    # A package's __init__ may name its own children (re-exports); anything else follows ALLOWED.
    forbidden = sorted(
        name for name in crossing if _room(name) not in ALLOWED[room] and not name.startswith(module + ".")
    )
    assert not forbidden, f"{module} ({room}/) imports {forbidden}; {room}/ may import {sorted(ALLOWED[room])}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_ray_and_matplotlib_only_in_experiments(module):
    if _room(module) == "experiments":
        return
    third_party = _third_party(module)
    forbidden = third_party & set(ONLY_IN_EXPERIMENTS) - ({"ray"} if _room(module) in RAY_ALSO_IN else set())
    assert not forbidden, f"{module} imports {forbidden}"


def _third_party(module):
    return {name.split(".")[0] for name in _imports(MODULES[module], module)}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_runtime_and_model_import_recbole(module):
    if _room(module) not in RECBOLE_ROOMS:
        assert "recbole" not in _third_party(module), f"{module} imports RecBole; ask runtime/ for what it needs"


@pytest.mark.parametrize("relative", PURE_TORCH)
def test_the_mixers_are_pure_torch(relative):
    module = f"{PACKAGE}.{relative[:-3].replace('/', '.')}"
    imported = {name.split(".")[0] for name in _imports(os.path.join(ROOT, relative), module)}
    assert "recbole" not in imported


def _experiment_room(module):
    """'grids' for experiments/grids/*.py (its __init__ included), '' for experiments/*.py."""
    relative = os.path.relpath(MODULES[module], os.path.join(ROOT, "experiments"))
    return relative.split(os.sep)[0] if os.sep in relative else ""


EXPERIMENTS = sorted(module for module in MODULES if _room(module) == "experiments")


def test_every_experiment_module_lives_in_a_known_sub_room():
    assert {_experiment_room(module) for module in EXPERIMENTS} == set(EXPERIMENT_ROOMS)


@pytest.mark.parametrize("module", EXPERIMENTS)
def test_experiments_import_one_way_between_their_sub_rooms(module):
    room = _experiment_room(module)
    crossing = {_experiment_room(name) for name in GRAPH[module] if name in EXPERIMENTS} - {room}
    forbidden = sorted(crossing - EXPERIMENT_ROOMS[room])
    assert not forbidden, (
        f"{module} (experiments/{room}) imports from {forbidden}; it may import {EXPERIMENT_ROOMS[room]}"
    )


PACKAGES = sorted(module for module, path in MODULES.items() if path.endswith("__init__.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_docstring_names_each_of_its_modules(package):
    """So that a newcomer can read a room's contents, and what each holds, at its door."""
    folder = os.path.dirname(MODULES[package])
    doc = ast.get_docstring(ast.parse(open(MODULES[package], encoding="utf-8").read())) or ""
    members = [name for name in sorted(os.listdir(folder)) if name.endswith(".py") and name != "__init__.py"]
    members += [
        f"{name}/" for name in sorted(os.listdir(folder)) if os.path.isfile(os.path.join(folder, name, "__init__.py"))
    ]
    missing = [name for name in members if name not in doc]
    assert not missing, f"{package}'s docstring does not name {missing}"


def test_no_import_cycle():
    # Edges from a package to its own children are re-exports, not a cycle of jobs.
    graph = {module: {name for name in names if not name.startswith(module + ".")} for module, names in GRAPH.items()}
    state, path = {}, []

    def visit(module):
        state[module] = "open"
        path.append(module)
        for name in sorted(graph[module]):
            if state.get(name) == "open":
                cycle = path[path.index(name) :] + [name]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if name not in state:
                visit(name)
        path.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
