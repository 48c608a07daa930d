"""What a DataLoader's dataset is known to be: in memory, an unsharded iterable, or
code that makes CUDA tensors. Each one changes what advice is safe to give."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.facts import BoundCall, Facts
from torchlint.analysis.model import FunctionInfo, Scope
from torchlint.analysis.names import last_name
from torchlint.analysis.values import UNKNOWN

IN_MEMORY = "in-memory"
ITERABLE_UNSHARDED = "iterable-unsharded"
MAKES_CUDA_TENSORS = "cuda"

_WRAPPERS = ("torch.utils.data.Subset", "torch.utils.data.random_split")


def origin(expr: cst.BaseExpression, scope: Scope, depth: int = 0) -> tuple[cst.BaseExpression, Scope]:
    """Follow single assignments back to the expression that built a value
    (`train, val = random_split(ds, ...)` leads to the `random_split` call)."""
    while isinstance(expr, cst.Name) and depth < 8:
        bindings = scope.lookup(expr.value)
        if len(bindings) != 1 or bindings[0].kind != "assign":
            break
        binding = bindings[0]
        following = binding.value if binding.value is not None else binding.source
        if following is None:
            break
        expr, scope = following, binding.scope
        depth += 1
    return expr, scope


def function_uses_cuda(facts: Facts, function: FunctionInfo) -> bool:
    for site in function.calls:
        if facts.moves_to_device(site.node, site.scope):
            return True
        for arg in site.node.args:
            if arg.keyword is not None and arg.keyword.value == "device":
                value = facts.value(arg.value, site.scope)
                if value is UNKNOWN:
                    if facts.is_device_expr(arg.value, site.scope):
                        return True
                elif value != "cpu":
                    return True
    return False


def dataset_traits(facts: Facts, bound: BoundCall) -> set[str]:
    traits: set[str] = set()
    collate = bound.get("collate_fn")
    if collate is not None:
        function = facts.local_function(*collate)
        if function is not None and function_uses_cuda(facts, function):
            traits.add(MAKES_CUDA_TENSORS)
    found = bound.get("dataset")
    if found is None:
        return traits
    expr, scope = origin(*found)
    for _ in range(4):
        if isinstance(expr, cst.Call) and expr.args and facts.call_qualname(expr, scope) in _WRAPPERS:
            expr, scope = origin(expr.args[0].value, scope)
        else:
            break
    if isinstance(expr, (cst.List, cst.Tuple, cst.ListComp)):
        traits.add(IN_MEMORY)
        return traits
    if not isinstance(expr, cst.Call):
        return traits
    if facts.call_qualname(expr, scope) == "torch.utils.data.TensorDataset":
        traits.add(IN_MEMORY)
        if any(_on_device(facts, arg.value, scope) for arg in expr.args):
            traits.add(MAKES_CUDA_TENSORS)  # pinning (or workers) would fail on them
        return traits
    local = facts.local_class(expr.func, scope)
    if local is None:
        return traits
    methods = facts.class_methods_of(local)
    if any(function_uses_cuda(facts, m) for m in methods):
        traits.add(MAKES_CUDA_TENSORS)
    if facts.is_iterable_dataset_class(local):
        if not any(last_name(s.node.func) == "get_worker_info" for m in methods for s in m.calls):
            traits.add(ITERABLE_UNSHARDED)
    return traits


def _on_device(facts: Facts, expr: cst.BaseExpression, scope: Scope, depth: int = 0) -> bool:
    """Is this tensor moved to, or created on, a device (`x.to(device)`, `device=...`)?"""
    if depth > 4:
        return False
    if isinstance(expr, cst.Call):
        if facts.moves_to_device(expr, scope):
            return True
        for arg in expr.args:
            if arg.keyword is not None and arg.keyword.value == "device":
                return facts.value(arg.value, scope) != "cpu"
        func = expr.func
        return isinstance(func, cst.Attribute) and _on_device(facts, func.value, scope, depth + 1)
    if isinstance(expr, cst.Name):
        return any(
            b.kind == "assign" and b.value is not None and _on_device(facts, b.value, b.scope, depth + 1)
            for b in scope.lookup(expr.value)
        )
    return False
