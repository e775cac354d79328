"""The import graph of ``src/chatport``: no circles, and every import goes down the layers.

The layers are the ones ``docs/architecture.md`` draws. An import inside
``if TYPE_CHECKING:`` is for the type checker only and does not count; an import inside
a function does (it is an edge all the same, only a later one).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import chatport

SOURCE = Path(chatport.__file__).parent
PACKAGE = "chatport"

#: Bottom to top: a module may import its own layer and the layers before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_errors", "_redact", "_suggest", "_version"),  # errors; credentials kept out of text
    ("_deadline", "_retry"),  # the call's clock and the retry policy
    (  # neutral types, checks of what users pass, and the hook specifications
        "_types",
        "_convert",
        "_request",
        "_reasoning",
        "_structured",
        "_family",
        "_stream",
        "_jsonvalue",
        "hookspecs",
    ),
    ("_config", "_databrickscfg", "_hosts", "_auth", "_credentials"),  # config, workspace
    ("_wire", "backends.kit"),  # shapes, SSE, error mapping, clients: what backends share
    ("backends",),  # the interface and every backend
    ("_guard", "_registry", "_plugins", "_observe", "_config_check"),  # plugins, observers
    ("_dispatch",),  # one call: attempts, retries, fallbacks
    ("_batch",),  # the batch engine behind Client.map
    ("_client", "_api", "_models"),  # Client and the module-level calls
    ("_batch_file", "_compare", "spark", "_terminal"),  # workloads and terminal output
    ("cli", "__main__"),  # the command line
)

#: Beside the layers: the local workspace shares nothing with chatport's reading of the
#: wire (the real clients test chatport against it); the testing kit may use anything.
LOCAL_MAY_IMPORT = {"_errors", "_redact", "_suggest", "_hosts"}
BESIDE = ("local", "testing")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in SOURCE.rglob("*.py")}


def _typing_only(tree: ast.AST) -> set[int]:
    """The ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    return skipped


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The chatport modules ``node`` imports (a package's name when it names no module)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package.pop()
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, *([node.module] if node.module else [])])
        names = [f"{base}.{alias.name}" for alias in node.names]
        names = [name if name in MODULES else base for name in names]
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name.startswith(PACKAGE) and name != module:
            yield name


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _typing_only(tree)
        edges[module] = {
            target
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped
            for target in _targets(module, node)
        }
    return edges


EDGES = _edges()


def layer_of(module: str) -> int | None:
    """The index of ``module``'s layer (the longest matching prefix wins)."""
    local = module.removeprefix(PACKAGE + ".")
    best: tuple[int, int] | None = None
    for index, names in enumerate(LAYERS):
        for name in names:
            if (local == name or local.startswith(name + ".")) and (
                best is None or len(name) > best[1]
            ):
                best = (index, len(name))
    return None if best is None else best[0]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_is_read() -> None:
    """The reader sees the imports it must judge (a broken reader would pass anything)."""
    assert f"{PACKAGE}._errors" in EDGES[f"{PACKAGE}._dispatch"]
    assert f"{PACKAGE}.backends.base" in EDGES[f"{PACKAGE}.backends.rest"]
    assert f"{PACKAGE}._client" in EDGES[f"{PACKAGE}._api"]  # an import inside a function


def test_no_import_circles() -> None:
    assert cycles(EDGES) == []


def test_the_cycle_finder_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_has_a_layer_or_sits_beside_them() -> None:
    beside = tuple(f"{PACKAGE}.{name}" for name in BESIDE)
    unplaced = [
        module
        for module in MODULES
        if module != PACKAGE and layer_of(module) is None and not module.startswith(beside)
    ]
    assert unplaced == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) is not None))
def test_imports_go_down_the_layers(module: str) -> None:
    own = layer_of(module)
    assert own is not None
    upward = [
        f"{target} (layer {layer_of(target)})"
        for target in sorted(EDGES[module])
        if (layer_of(target) or 0) > own or target == PACKAGE
    ]
    assert upward == [], f"{module} (layer {own}) imports upward"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith(f"{PACKAGE}.local")))
def test_the_local_workspace_imports_only_errors_secrets_and_hosts(module: str) -> None:
    allowed = {f"{PACKAGE}.{name}" for name in LOCAL_MAY_IMPORT}
    outside = sorted(
        target
        for target in EDGES[module]
        if not target.startswith(f"{PACKAGE}.local") and target not in allowed
    )
    assert outside == []


def test_the_deadline_package_needs_only_the_error_tree() -> None:
    """The deadline sits under everything that waits: it imports the standard library and
    the error tree alone (not even the retry policy beside it)."""
    package = f"{PACKAGE}._deadline"
    assert package in MODULES
    for module, targets in EDGES.items():
        if module == package or module.startswith(package + "."):
            outside = {t for t in targets if not t.startswith(package)}
            assert outside <= {f"{PACKAGE}._errors", f"{PACKAGE}._redact"}, (module, outside)
