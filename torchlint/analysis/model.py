"""The semantic model of one file, built in a single traversal of its libcst tree.

Rules never walk the tree themselves: they ask this model about scopes, bindings,
calls, loops, classes and functions. The traversal is a hand-written walk over the
dataclass fields that can hold code (it skips whitespace and punctuation), which costs
a fraction of libcst's visitor protocol, since that rebuilds every node it passes.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Iterator

import libcst as cst

from torchlint.analysis.names import dotted_name

# Fields that can never hold code a rule cares about.
_SKIPPED_FIELDS = frozenset(
    """lpar rpar comma colon dot equal semicolon operator leading_lines lines_after_decorators
    header footer newline trailing_whitespace lbrace rbrace lbracket rbracket first_colon
    second_colon asynchronous default_indent default_newline encoding has_trailing_newline
    separator posonly_ind empty_lines indent leading_whitespace comment first_line last_line
    start end relative conversion trailing_comma annotation returns type_parameters star
    format_spec asname""".split()
)
_FIELDS_CACHE: dict[type, tuple[str, ...]] = {}


def _code_fields(node_type: type) -> tuple[str, ...]:
    names = _FIELDS_CACHE.get(node_type)
    if names is None:
        names = tuple(
            f.name
            for f in dataclasses.fields(node_type)
            if f.name not in _SKIPPED_FIELDS and not f.name.startswith("whitespace")
        )
        _FIELDS_CACHE[node_type] = names
    return names


def iter_code_children(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    for name in _code_fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            yield value
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, cst.CSTNode):
                    yield item


def walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every code node below `node`, itself included (pre-order, iterative)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        children = list(iter_code_children(current))
        children.reverse()
        stack.extend(children)


# ---------------------------------------------------------------------------
# Data the traversal records


@dataclass(eq=False)
class Binding:
    """One place where a name gets a value."""

    name: str
    kind: str  # import | assign | augassign | param | def | class | loop | with | other
    node: cst.CSTNode  # the statement, parameter or definition
    scope: "Scope"
    value: cst.BaseExpression | None = None  # the expression assigned, when it is one
    qualname: str | None = None  # imports: what the name stands for
    # Tuple unpacking (`a, b = expr`, `for x, y in loader`): where in `source` the name sits.
    source: cst.BaseExpression | None = None
    path: tuple[int, ...] = ()
    blocks: tuple[int, ...] = ()  # ids of the enclosing conditional blocks
    order: int = 0  # when the traversal met it: source order, for "what comes next"


@dataclass(eq=False)
class Scope:
    kind: str  # module | class | function | comprehension
    node: cst.CSTNode
    parent: "Scope | None"
    name: str = ""
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    global_names: set[str] = field(default_factory=set)
    # Every read of a bare name in this scope: name -> [(order, node)].
    references: dict[str, list[tuple[int, cst.Name]]] = field(default_factory=dict)
    # Class scopes: what methods assign to `self.<attr>`.
    self_attrs: dict[str, list[Binding]] = field(default_factory=dict)

    def lookup(self, name: str) -> list[Binding]:
        """Python's rules: class bodies are not visible from the functions inside them."""
        scope: Scope | None = self
        first = True
        while scope is not None:
            if first or scope.kind != "class":
                found = scope.bindings.get(name)
                if found:
                    return found
            first = False
            scope = scope.parent
        return []

    @property
    def function(self) -> "Scope | None":
        scope: Scope | None = self
        while scope is not None and scope.kind == "comprehension":
            scope = scope.parent
        return scope if scope is not None and scope.kind == "function" else None


@dataclass(eq=False)
class FunctionInfo:
    node: cst.FunctionDef | cst.Lambda
    name: str
    scope: Scope  # the function's own scope
    owner: "ClassInfo | None"  # the class it is a method of
    params: list[cst.Param]
    calls: list["CallSite"] = field(default_factory=list)
    cuda_strings: int = 0
    trains: bool = False  # calls .backward() or optimizer.step(), itself or through helpers


@dataclass(eq=False)
class ClassInfo:
    node: cst.ClassDef
    name: str
    scope: Scope  # the class body's scope
    outer: Scope  # where the class is defined
    bases: list[cst.BaseExpression]
    methods: dict[str, FunctionInfo] = field(default_factory=dict)


@dataclass(eq=False)
class LoopInfo:
    node: cst.For | cst.While
    scope: Scope
    function: FunctionInfo | None
    parent: "LoopInfo | None"
    trains: bool = False  # a training loop: runs backward/step each iteration


@dataclass(eq=False)
class CallSite:
    node: cst.Call
    scope: Scope
    function: FunctionInfo | None
    loops: tuple[LoopInfo, ...]  # enclosing loops of the same function, innermost last
    classes: tuple[ClassInfo, ...]  # enclosing classes, innermost last
    blocks: tuple[int, ...]


@dataclass(eq=False)
class ExprStatement:
    """A call used as a statement: its result is thrown away."""

    node: cst.Expr
    call: cst.Call
    scope: Scope
    function: FunctionInfo | None
    loops: tuple[LoopInfo, ...]


_CUDA_STRING = re.compile(r"""^[rRuUbBfF]*(?:'''|\"\"\"|'|")\s*cuda\b""")
_MPS_STRING = re.compile(r"""^[rRuUbBfF]*(?:'''|\"\"\"|'|")\s*mps\b""")


class FileModel:
    """Everything the traversal learnt about one module."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self.module_scope = Scope("module", module, None)
        self.calls: list[CallSite] = []
        self.loops: list[LoopInfo] = []
        self.functions: list[FunctionInfo] = []
        self.classes: list[ClassInfo] = []
        self.expr_statements: list[ExprStatement] = []
        self.function_of_node: dict[int, FunctionInfo] = {}
        self.class_of_node: dict[int, ClassInfo] = {}
        # `outer` for calls like `inner(...).method(...)`: id(inner) -> outer call
        self.method_call_on: dict[int, cst.Call] = {}
        # Subscript assignments `name[key] = value`, for kwargs dicts: name -> [(stmt, scope, blocks)]
        self.subscript_stores: dict[str, list[tuple[cst.Assign, Scope, tuple[int, ...]]]] = {}
        self.cuda_strings = 0
        self.mps_strings = 0
        self.has_main_guard = False
        _Builder(self).run()


class _Builder:
    """The single traversal. Keeps the stacks that give each record its context."""

    def __init__(self, model: FileModel) -> None:
        self.model = model
        self.scope = model.module_scope
        self.function: FunctionInfo | None = None
        self.loops: tuple[LoopInfo, ...] = ()
        self.classes: tuple[ClassInfo, ...] = ()
        self.blocks: tuple[int, ...] = ()
        self.order = 0

    # -- helpers -----------------------------------------------------------

    def bind(self, name: str, kind: str, node: cst.CSTNode, **extra) -> None:
        scope = self.scope
        if name in scope.global_names:
            scope = self.model.module_scope
        self.order += 1
        binding = Binding(name, kind, node, scope, blocks=self.blocks, order=self.order, **extra)
        scope.bindings.setdefault(name, []).append(binding)

    def bind_target(
        self,
        target: cst.BaseExpression,
        kind: str,
        stmt: cst.CSTNode,
        value: cst.BaseExpression | None,
        source: cst.BaseExpression | None = None,
        path: tuple[int, ...] = (),
    ) -> None:
        if isinstance(target, cst.Name):
            self.bind(target.value, kind, stmt, value=value, source=source, path=path)
        elif isinstance(target, (cst.Tuple, cst.List)):
            elements = target.elements
            values = None
            if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(elements):
                values = [e.value for e in value.elements]
            for index, element in enumerate(elements):
                inner = element.value
                if isinstance(element, cst.StarredElement):
                    self.bind_target(inner, kind, stmt, None)
                    continue
                self.bind_target(
                    inner,
                    kind,
                    stmt,
                    values[index] if values else None,
                    (source or value) if values is None else None,
                    path + (index,) if values is None else (),
                )
        elif isinstance(target, cst.StarredElement):
            self.bind_target(target.value, kind, stmt, None)
        elif isinstance(target, cst.Attribute):
            # `self.x = ...` inside a method: remember it on the class.
            if (
                isinstance(target.value, cst.Name)
                and target.value.value == "self"
                and self.classes
                and self.function is not None
                and self.function.owner is self.classes[-1]
            ):
                owner = self.classes[-1]
                binding = Binding(f"self.{target.attr.value}", kind, stmt, self.scope, value=value, blocks=self.blocks)
                owner.scope.self_attrs.setdefault(target.attr.value, []).append(binding)
        elif isinstance(target, cst.Subscript):
            if isinstance(target.value, cst.Name) and isinstance(stmt, cst.Assign):
                self.model.subscript_stores.setdefault(target.value.value, []).append(
                    (stmt, self.scope, self.blocks)
                )

    # -- the walk ----------------------------------------------------------

    def run(self) -> None:
        self.visit_body(self.model.module.body)

    def visit_body(self, statements) -> None:
        for statement in statements:
            self.visit(statement)

    def visit(self, node: cst.CSTNode) -> None:
        handler = _HANDLERS.get(type(node))
        if handler is not None:
            handler(self, node)
        else:
            self.visit_children(node)

    def visit_children(self, node: cst.CSTNode) -> None:
        for child in iter_code_children(node):
            self.visit(child)

    # -- statements ----------------------------------------------------------

    def on_import(self, node: cst.Import) -> None:
        for alias in node.names:
            dotted = dotted_name(alias.name)
            if dotted is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.bind(alias.asname.name.value, "import", node, qualname=dotted)
            else:
                # `import torch.nn` binds `torch` (to the package `torch`).
                head = dotted.split(".")[0]
                self.bind(head, "import", node, qualname=head)

    def on_import_from(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None:
            base = None
        else:
            base = dotted_name(node.module)
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            if not isinstance(alias.name, cst.Name):
                continue
            name = alias.name.value
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.bind(local, "import", node, qualname=f"{base}.{name}" if base else None)

    def on_assign(self, node: cst.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self.visit_target_expressions(target.target)
            self.bind_target(target.target, "assign", node, node.value)

    def on_ann_assign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        self.visit_target_expressions(node.target)
        self.bind_target(node.target, "assign" if node.value is not None else "other", node, node.value)

    def on_aug_assign(self, node: cst.AugAssign) -> None:
        self.visit(node.value)
        self.visit_target_expressions(node.target)
        if isinstance(node.target, cst.Name):
            self.bind(node.target.value, "augassign", node, value=node.value)

    def visit_target_expressions(self, target: cst.BaseExpression) -> None:
        """Targets hold code too: `a[f(x)] = ...`, `self.model.weight = ...`."""
        if isinstance(target, cst.Name):
            return
        self.visit(target)

    def on_expr(self, node: cst.Expr) -> None:
        value = node.value
        if isinstance(value, cst.Call):
            self.model.expr_statements.append(
                ExprStatement(node, value, self.scope, self.function, self.loops)
            )
        self.visit(value)

    def on_global(self, node: cst.Global | cst.Nonlocal) -> None:
        if isinstance(node, cst.Global):
            for item in node.names:
                self.scope.global_names.add(item.name.value)

    def on_function(self, node: cst.FunctionDef) -> None:
        for decorator in node.decorators:
            self.visit(decorator.decorator)
        self.visit_param_defaults(node.params)
        self.bind(node.name.value, "def", node)
        owner = self.classes[-1] if self.classes and self.scope is self.classes[-1].scope else None
        self.enter_function(node, node.name.value, owner, node.body)

    def on_lambda(self, node: cst.Lambda) -> None:
        self.visit_param_defaults(node.params)
        self.enter_function(node, "<lambda>", None, node.body)

    def visit_param_defaults(self, params: cst.Parameters) -> None:
        for param in _all_params(params):
            if param.default is not None:
                self.visit(param.default)

    def enter_function(self, node, name, owner, body) -> None:
        scope = Scope("function", node, self.scope, name)
        info = FunctionInfo(node, name, scope, owner, _all_params(node.params))
        self.model.functions.append(info)
        self.model.function_of_node[id(node)] = info
        if owner is not None:
            owner.methods[name] = info
        saved = (self.scope, self.function, self.loops, self.blocks)
        self.scope, self.function, self.loops, self.blocks = scope, info, (), ()
        for param in info.params:
            self.bind(param.name.value, "param", param, value=param.default)
        if isinstance(body, cst.BaseSuite):
            self.visit_children(body)
        else:
            self.visit(body)
        self.scope, self.function, self.loops, self.blocks = saved

    def on_class(self, node: cst.ClassDef) -> None:
        for decorator in node.decorators:
            self.visit(decorator.decorator)
        bases = [arg.value for arg in node.bases]
        for arg in node.bases:
            self.visit(arg.value)
        for arg in node.keywords:
            self.visit(arg.value)
        self.bind(node.name.value, "class", node)
        scope = Scope("class", node, self.scope, node.name.value)
        info = ClassInfo(node, node.name.value, scope, self.scope, bases)
        self.model.classes.append(info)
        self.model.class_of_node[id(node)] = info
        saved = (self.scope, self.classes, self.loops, self.blocks)
        self.scope, self.classes, self.loops, self.blocks = scope, self.classes + (info,), (), ()
        self.visit_children(node.body)
        self.scope, self.classes, self.loops, self.blocks = saved

    def on_for(self, node: cst.For) -> None:
        self.visit(node.iter)
        self.visit_loop(node)

    def on_while(self, node: cst.While) -> None:
        self.visit(node.test)
        self.visit_loop(node)

    def visit_loop(self, node: cst.For | cst.While) -> None:
        """The body runs once per iteration (inside the loop); `else` runs once, after it."""
        loop = LoopInfo(node, self.scope, self.function, self.loops[-1] if self.loops else None)
        self.model.loops.append(loop)
        saved = (self.loops, self.blocks)
        self.loops, self.blocks = self.loops + (loop,), self.blocks + (id(node),)
        if isinstance(node, cst.For):
            self.visit_target_expressions(node.target)
            self.bind_target(node.target, "loop", node, None, source=node.iter)
        self.visit(node.body)
        self.loops = saved[0]
        if node.orelse is not None:
            self.visit(node.orelse)
        self.blocks = saved[1]

    def on_conditional_block(self, node) -> None:
        saved = self.blocks
        self.blocks = self.blocks + (id(node),)
        self.visit_children(node)
        self.blocks = saved

    def on_if(self, node: cst.If) -> None:
        if self.scope.kind == "module" and _is_main_guard(node.test):
            self.model.has_main_guard = True
        self.on_conditional_block(node)

    def on_with(self, node: cst.With) -> None:
        for item in node.items:
            self.visit(item.item)
            if item.asname is not None:
                self.visit_target_expressions(item.asname.name)
                self.bind_target(item.asname.name, "with", node, None)
        self.visit(node.body)

    def on_except(self, node: cst.ExceptHandler) -> None:
        if node.name is not None and isinstance(node.name.name, cst.Name):
            self.bind(node.name.name.value, "other", node)
        self.on_conditional_block(node)

    def on_named_expr(self, node: cst.NamedExpr) -> None:
        self.visit(node.value)
        self.bind_target(node.target, "assign", node, node.value)

    def on_comprehension(self, node) -> None:
        scope = Scope("comprehension", node, self.scope)
        saved = self.scope
        self.scope = scope
        for_in = node.for_in
        while for_in is not None:
            self.visit(for_in.iter)
            self.bind_target(for_in.target, "loop", for_in, None, source=for_in.iter)
            for condition in for_in.ifs:
                self.visit(condition.test)
            for_in = for_in.inner_for_in
        if isinstance(node, cst.DictComp):
            self.visit(node.key)
            self.visit(node.value)
        else:
            self.visit(node.elt)
        self.scope = saved

    # -- expressions ---------------------------------------------------------

    def on_call(self, node: cst.Call) -> None:
        site = CallSite(node, self.scope, self.function, self.loops, self.classes, self.blocks)
        self.model.calls.append(site)
        if self.function is not None:
            self.function.calls.append(site)
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call):
            self.model.method_call_on[id(func.value)] = node
        self.visit(func)
        for arg in node.args:
            self.visit(arg.value)

    def on_string(self, node: cst.SimpleString) -> None:
        if _CUDA_STRING.match(node.value):
            self.model.cuda_strings += 1
            if self.function is not None:
                self.function.cuda_strings += 1
        elif _MPS_STRING.match(node.value):
            self.model.mps_strings += 1

    def on_fstring(self, node: cst.FormattedString) -> None:
        if node.parts and isinstance(node.parts[0], cst.FormattedStringText):
            text = node.parts[0].value.lstrip()
            if text.startswith("cuda"):
                self.model.cuda_strings += 1
                if self.function is not None:
                    self.function.cuda_strings += 1
        self.visit_children(node)

    def on_name(self, node: cst.Name) -> None:
        self.order += 1
        scope = self.scope
        while scope.kind == "comprehension" and scope.parent is not None:
            scope = scope.parent
        scope.references.setdefault(node.value, []).append((self.order, node))

    def on_attribute(self, node: cst.Attribute) -> None:
        self.visit(node.value)  # `.attr` is not a read of a name called attr

    def on_leaf(self, node) -> None:
        pass


_HANDLERS = {
    cst.Import: _Builder.on_import,
    cst.ImportFrom: _Builder.on_import_from,
    cst.Assign: _Builder.on_assign,
    cst.AnnAssign: _Builder.on_ann_assign,
    cst.AugAssign: _Builder.on_aug_assign,
    cst.Expr: _Builder.on_expr,
    cst.Global: _Builder.on_global,
    cst.FunctionDef: _Builder.on_function,
    cst.Lambda: _Builder.on_lambda,
    cst.ClassDef: _Builder.on_class,
    cst.For: _Builder.on_for,
    cst.While: _Builder.on_while,
    cst.If: _Builder.on_if,
    cst.Try: _Builder.on_conditional_block,
    cst.TryStar: _Builder.on_conditional_block,
    cst.Match: _Builder.on_conditional_block,
    cst.IfExp: _Builder.on_conditional_block,
    cst.ExceptHandler: _Builder.on_except,
    cst.ExceptStarHandler: _Builder.on_except,
    cst.With: _Builder.on_with,
    cst.NamedExpr: _Builder.on_named_expr,
    cst.ListComp: _Builder.on_comprehension,
    cst.SetComp: _Builder.on_comprehension,
    cst.GeneratorExp: _Builder.on_comprehension,
    cst.DictComp: _Builder.on_comprehension,
    cst.Call: _Builder.on_call,
    cst.SimpleString: _Builder.on_string,
    cst.FormattedString: _Builder.on_fstring,
    cst.Name: _Builder.on_name,
    cst.Attribute: _Builder.on_attribute,
    cst.Integer: _Builder.on_leaf,
    cst.Float: _Builder.on_leaf,
    cst.Pass: _Builder.on_leaf,
    cst.Ellipsis: _Builder.on_leaf,
}


def _all_params(params: cst.Parameters) -> list[cst.Param]:
    result = list(params.posonly_params) + list(params.params)
    if isinstance(params.star_arg, cst.Param):
        result.append(params.star_arg)
    result.extend(params.kwonly_params)
    if params.star_kwarg is not None:
        result.append(params.star_kwarg)
    return result


def _is_main_guard(test: cst.BaseExpression) -> bool:
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    sides = [test.left, test.comparisons[0].comparator]
    names = [s for s in sides if isinstance(s, cst.Name) and s.value == "__name__"]
    strings = [s for s in sides if isinstance(s, cst.SimpleString) and "__main__" in s.value]
    return bool(names and strings)
