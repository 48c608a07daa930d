"""The shape of the code: no import cycle between torchlint's modules, no oversized file,
and rules that ask the semantic vocabulary instead of decoding its internals.

The import graph is read from the source with `ast`, nothing is imported. Every
`import` and `from ... import` counts, at module level and inside functions (a lazy
import is a dependency all the same); only the imports of an `if TYPE_CHECKING:` block
are left out. `from pkg import name` is an edge to the module `pkg.name` when there is
one, else to `pkg`.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "torchlint"

MAX_LINES = 700
RULES = PACKAGE / "rules"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """Every import statement, at any depth, outside `if TYPE_CHECKING:` blocks."""
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The torchlint modules that module `name` (at `path`) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        if node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        for alias in node.names:
            candidate = f"{source}.{alias.name}"
            found.add(candidate if candidate in known else source)
    return {target for target in found if target in known and target != name}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The modules of each import cycle: the strongly connected components of more than
    one module (Tarjan's algorithm, without recursion), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def a_cycle(graph: dict[str, set[str]], members: list[str]) -> list[str]:
    """One cycle through the first member of a component: a -> b -> ... -> a."""
    inside = set(members)
    start = members[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & inside):
            if child == start:
                return paths[node] + [start]
            if child not in paths:
                paths[child] = paths[node] + [child]
                queue.append(child)
    return members


def test_the_graph_sees_lazy_imports_and_skips_type_checking_blocks(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from torchlint import cli\n"
        "from . import sources as s\n"
        "if TYPE_CHECKING:\n"
        "    from torchlint.server import TorchlintServer\n"
        "def later():\n"
        "    import torchlint.engine\n"
        "    from .project.workspace import Workspace\n",
        encoding="utf-8",
    )
    known = {"torchlint", "torchlint.cli", "torchlint.sources", "torchlint.server", "torchlint.engine",
             "torchlint.project.workspace", "torchlint.example"}
    assert imports_of("torchlint.example", source, known) == {
        "torchlint.cli", "torchlint.sources", "torchlint.engine", "torchlint.project.workspace",
    }


def test_a_cycle_is_found_and_listed():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_no_import_cycle_in_torchlint():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(a_cycle(graph, members)) for members in found)


def test_no_file_in_torchlint_is_longer_than_700_lines():
    too_long = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            too_long[relative] = lines
    assert not too_long, f"files over {MAX_LINES} lines: {too_long}"


def _tag_decodings(tree) -> list[int]:
    """Lines comparing a subscript by an integer literal with a short string literal
    (`func[0] == "a"`, `expr[0] in ("n", "a")`): decoding the summary's expression tags."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        indexed = any(
            isinstance(o, ast.Subscript) and isinstance(o.slice, ast.Constant) and type(o.slice.value) is int
            for o in operands
        )
        strings = [
            c for o in operands for c in ([o] if isinstance(o, ast.Constant) else getattr(o, "elts", []))
            if isinstance(c, ast.Constant) and isinstance(c.value, str)
        ]
        if indexed and any(len(c.value) <= 3 for c in strings):
            found.append(node.lineno)
    return sorted(set(found))


def test_the_check_for_tag_decoding_finds_it():
    assert _tag_decodings(ast.parse('if func[0] == "a" and x[2] in ("to", "cuda"): pass')) == [1]
    assert _tag_decodings(ast.parse('if e[0] in ("n", "a"): pass\nif name[0] == "_": pass')) == [1, 2]
    assert _tag_decodings(ast.parse('if parts[0] == "torch" or len(x) == 2: pass')) == []


def test_rules_ask_the_vocabulary():
    """Rules never decode the summary's tagged lists (semantic.expr answers that) and never
    reach the evaluator or the training model past the module context (`ctx.ev`,
    `ctx.training`, `ctx.semantics`)."""
    problems = []
    for path in sorted(RULES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        problems += [f"{path.name}:{line}: tag decoding" for line in _tag_decodings(tree)]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("ev", "training", "semantics"):
                problems.append(f"{path.name}:{node.lineno}: `.{node.attr}` past the module context")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module = node.module if isinstance(node, ast.ImportFrom) else None
                names = [module or ""] + [alias.name for alias in node.names]
                if any(n in ("torchlint.semantic.evaluate", "torchlint.semantic.training") for n in names):
                    problems.append(f"{path.name}:{node.lineno}: imports the evaluator or the training model")
    assert not problems, "\n".join(problems)
