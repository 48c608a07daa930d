"""What an expression evaluates to, when that can be known without running anything.

The answer is a Python value or UNKNOWN. Resolution is deliberately conservative: a name
assigned twice with different values, a dict filled inside an `if`, a value read from a
config file: all UNKNOWN, and rules stay silent on UNKNOWN.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst

from torchlint.analysis.model import Binding, FileModel, Scope
from torchlint.analysis.names import last_name


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        raise TypeError("UNKNOWN has no truth value; compare with `is UNKNOWN`")


UNKNOWN = _Unknown()
_MAX_DEPTH = 8


@dataclass(frozen=True)
class ArgparseOption:
    default: object  # a value, or UNKNOWN


class ValueResolver:
    def __init__(self, model: FileModel, argparse_options: dict[str, ArgparseOption]) -> None:
        self.model = model
        self.argparse = argparse_options

    def value(self, expr: cst.BaseExpression | None, scope: Scope, depth: int = 0) -> object:
        if expr is None or depth > _MAX_DEPTH:
            return UNKNOWN
        if isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString)):
            try:
                return ast.literal_eval(self.model.module.code_for_node(expr).strip())
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return UNKNOWN
        if isinstance(expr, cst.Name):
            if expr.value in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[expr.value]
            return self.name_value(expr.value, scope, depth)
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
            inner = self.value(expr.expression, scope, depth + 1)
            return -inner if isinstance(inner, (int, float)) and not isinstance(inner, bool) else UNKNOWN
        if isinstance(expr, cst.Attribute):
            return self.attribute_value(expr, scope, depth)
        if isinstance(expr, cst.BinaryOperation):
            left = self.value(expr.left, scope, depth + 1)
            right = self.value(expr.right, scope, depth + 1)
            if isinstance(left, int) and isinstance(right, int) and not isinstance(left, bool):
                op = expr.operator
                if isinstance(op, cst.Multiply):
                    return left * right
                if isinstance(op, cst.Add):
                    return left + right
                if isinstance(op, cst.Subtract):
                    return left - right
                if isinstance(op, cst.FloorDivide) and right:
                    return left // right
            return UNKNOWN
        return UNKNOWN

    def name_value(self, name: str, scope: Scope, depth: int) -> object:
        bindings = scope.lookup(name)
        return self.bindings_value(bindings, depth)

    def bindings_value(self, bindings: list[Binding], depth: int) -> object:
        """One value all bindings agree on, or UNKNOWN."""
        if not bindings:
            return UNKNOWN
        result: object = UNKNOWN
        for index, binding in enumerate(bindings):
            if binding.kind != "assign" or binding.value is None:
                return UNKNOWN
            current = self.value(binding.value, binding.scope, depth + 1)
            if current is UNKNOWN:
                return UNKNOWN
            if index and (type(current) is not type(result) or current != result):
                return UNKNOWN
            result = current
        return result

    def attribute_value(self, expr: cst.Attribute, scope: Scope, depth: int) -> object:
        """`args.batch_size` where `args` comes from argparse in this file."""
        receiver = expr.value
        if not isinstance(receiver, cst.Name) or not self.argparse:
            return UNKNOWN
        if not self.is_parsed_args(receiver.value, scope):
            return UNKNOWN
        option = self.argparse.get(expr.attr.value)
        return option.default if option is not None else UNKNOWN

    def is_parsed_args(self, name: str, scope: Scope) -> bool:
        bindings = scope.lookup(name)
        if not bindings:
            return False
        for binding in bindings:
            if binding.kind == "param":
                # `def main(args)`: trust only the conventional names.
                if name not in ("args", "opt", "opts", "flags", "FLAGS", "cli_args"):
                    return False
                continue
            value = binding.value
            if binding.kind != "assign" or not isinstance(value, cst.Call):
                # `args, unknown = parser.parse_known_args()`
                source = binding.source
                if (
                    binding.path == (0,)
                    and isinstance(source, cst.Call)
                    and last_name(source.func) == "parse_known_args"
                ):
                    continue
                return False
            if last_name(value.func) not in ("parse_args", "parse_known_args"):
                return False
        return True


def collect_argparse(model: FileModel, resolver_factory) -> dict[str, ArgparseOption]:
    """Defaults of every `add_argument` in the file, keyed by dest.

    A dest declared twice with different defaults becomes UNKNOWN; `set_defaults(x=...)`
    overrides. Only literal defaults count: anything computed is UNKNOWN.
    """
    options: dict[str, ArgparseOption] = {}
    overrides: list[tuple[str, cst.BaseExpression, Scope]] = []
    declarations: list[tuple[str, cst.Call, Scope]] = []
    for site in model.calls:
        func = site.node.func
        if not isinstance(func, cst.Attribute):
            continue
        method = func.attr.value
        if method == "add_argument":
            dest = _argparse_dest(site.node)
            if dest:
                declarations.append((dest, site.node, site.scope))
        elif method == "set_defaults":
            for arg in site.node.args:
                if arg.keyword is not None and arg.star == "":
                    overrides.append((arg.keyword.value, arg.value, site.scope))
    if not declarations:
        return options
    resolver = resolver_factory({})
    for dest, call, scope in declarations:
        default: object = None
        action = None
        for arg in call.args:
            if arg.keyword is None:
                continue
            if arg.keyword.value == "default":
                default = resolver.value(arg.value, scope)
            elif arg.keyword.value == "action":
                action = resolver.value(arg.value, scope)
        if default is None and action == "store_true":
            default = False
        elif default is None and action == "store_false":
            default = True
        previous = options.get(dest)
        if previous is not None and previous.default != default:
            default = UNKNOWN
        options[dest] = ArgparseOption(default)
    # Parser-level defaults (`set_defaults`) override argument-level ones.
    overridden: dict[str, object] = {}
    for dest, expr, scope in overrides:
        value = resolver.value(expr, scope)
        if dest in overridden and overridden[dest] != value:
            value = UNKNOWN
        overridden[dest] = value
    for dest, value in overridden.items():
        options[dest] = ArgparseOption(value)
    return options


def _argparse_dest(call: cst.Call) -> str | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "dest":
            if isinstance(arg.value, cst.SimpleString):
                return arg.value.evaluated_value if isinstance(arg.value.evaluated_value, str) else None
            return None
    flags = []
    for arg in call.args:
        if arg.keyword is not None or arg.star:
            break
        if not isinstance(arg.value, cst.SimpleString):
            return None
        value = arg.value.evaluated_value
        if not isinstance(value, str):
            return None
        flags.append(value)
    if not flags:
        return None
    long_flags = [f for f in flags if f.startswith("--")]
    chosen = long_flags[0][2:] if long_flags else flags[0].lstrip("-")
    return chosen.replace("-", "_") or None
