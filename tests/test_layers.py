"""The firmware's layers (docs/architecture.md), checked on the tree's own import graph:
every import, those inside functions included, points down; no cycles; the engine cannot
reach the importers; nothing the pedal runs imports a test helper."""
import ast
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"

# Lowest first. A module may import its own package and any package of a lower layer;
# the four processes are peers that talk only through ipc/ and never import one another;
# capture/ (the capture's session, its takes and checks) is a library the pedal and `tubeless capture` share.
LAYERS = [
    ("core",),
    ("platform",),
    ("models",),
    ("importers",),
    ("dsp",),
    ("presets",),
    ("ipc", "network"),
    ("capture",),
    ("engine", "librarian", "pedal", "web"),
    ("testing",),
    ("tools",),
]
LAYER_OF = {pkg: i for i, pkgs in enumerate(LAYERS) for pkg in pkgs}


def module_name(path):
    parts = path.relative_to(FIRMWARE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path, modules):
    """The firmware modules a file imports, anywhere in it (inside functions too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


@pytest.fixture(scope="module")
def graph():
    files = {module_name(p): p for p in FIRMWARE.rglob("*.py")}
    return {m: imports_of(p, files) for m, p in files.items()}


def package_of(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None      # None: the root package `firmware`


def test_every_package_has_a_layer(graph):
    packages = {package_of(m) for m in graph} - {None, "__main__"}
    assert packages <= set(LAYER_OF), f"packages without a layer: {sorted(packages - set(LAYER_OF))}"


def test_imports_point_down(graph):
    wrong = []
    for module, deps in graph.items():
        src = package_of(module)
        if src in (None, "__main__"):
            continue
        for dep in deps:
            dst = package_of(dep)
            if dst is None or dst == src:
                continue
            if LAYER_OF[dst] >= LAYER_OF[src]:
                wrong.append(f"{module} -> {dep}")
    assert not wrong, "imports that do not point down:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles(graph):
    # Tarjan's strongly connected components over the module graph
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                cycles.append(sorted(scc))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def reachable(graph, start):
    seen, todo = set(), [m for m in graph if m == start or m.startswith(start + ".")]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph[m])
    return seen


def test_the_engine_cannot_reach_the_importers_or_the_control_side(graph):
    forbidden = ("firmware.importers", "firmware.pedal", "firmware.web", "firmware.librarian",
                 "firmware.capture", "firmware.network", "firmware.tools", "firmware.testing")
    reached = sorted(m for m in reachable(graph, "firmware.engine") if m.startswith(forbidden))
    assert not reached, f"the audio process reaches: {reached}"


def test_no_production_module_imports_a_test_helper(graph):
    offenders = sorted(f"{m} -> {d}" for m, deps in graph.items() for d in deps
                       if package_of(d) == "testing" and package_of(m) not in ("testing", "tools"))
    assert not offenders, offenders


def test_the_checker_sees_an_upward_import_inside_a_function(tmp_path):
    # the harness itself, on a case whose answer is known: a function-level relative import
    # from a low layer into a high one must be found
    pkg = tmp_path / "firmware" / "core"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (tmp_path / "firmware" / "__init__.py").write_text("")
    (tmp_path / "firmware" / "tools").mkdir()
    (tmp_path / "firmware" / "tools" / "__init__.py").write_text("")
    (tmp_path / "firmware" / "tools" / "cli.py").write_text("")
    bad = pkg / "x.py"
    bad.write_text("def f():\n    from ..tools import cli\n    return cli\n")
    global FIRMWARE
    saved, FIRMWARE = FIRMWARE, tmp_path / "firmware"
    try:
        modules = {module_name(p): p for p in FIRMWARE.rglob("*.py")}
        assert imports_of(bad, modules) == {"firmware.tools.cli"}
    finally:
        FIRMWARE = saved
