"""Within one function: which calls and names hold tensors computed from given calls
(`mask = torch.arange(n)[None] < lengths[:, None]` derives from the `arange`), through
tensor operations only: arithmetic and comparisons, tensor methods that return tensors,
and torch functions such as `cat` and `where`. `.item()`, `.tolist()` and friends end
the flow: their results live on the host as Python values."""

from __future__ import annotations

from torchlint.semantic import api
from torchlint.semantic.values import External

_ATTRIBUTES_THAT_ARE_TENSORS = ("T", "mT", "data", "real", "imag")


def derived(ev, module: str, qualname: str, sources: set[int]) -> tuple[set[int], set[str]]:
    """(call indexes, local names) whose values derive from the calls in `sources`."""
    function = ev.function(module, qualname)
    frame = (module, qualname)
    calls: set[int] = set(sources)
    names: set[str] = set()

    def tainted(expr) -> bool:
        return tainted_expression(expr, calls, names)

    torch_functions: dict[int, bool] = {}

    def is_torch_function(index: int, call) -> bool:
        if index not in torch_functions:
            names_found = {t.qualname for t, _ in ev.targets(call, frame) if isinstance(t, External)}
            torch_functions[index] = any(
                (q.startswith("torch.") and q.rpartition(".")[2] in api.TENSOR_FUNCTIONS) or q in api.TENSOR_LIBRARY_FUNCTIONS
                for q in names_found
            )
        return torch_functions[index]

    changed = True
    while changed:
        changed = False
        for index, call in enumerate(function.calls):
            if index in calls:
                continue
            func = call.func
            if func[0] == "a" and (func[2] in api.TENSOR_METHODS or func[2] in ("to", "type", "cpu")) and tainted(func[1]):
                calls.add(index)
                changed = True
            elif any(tainted(a) for a in call.args) and is_torch_function(index, call):
                calls.add(index)
                changed = True
        for name, bindings in function.bindings.items():
            if name in names:
                continue
            if any(b.kind in ("assign", "augassign", "loop") and tainted(b.value) for b in bindings):
                names.add(name)
                changed = True
    return calls, names


def tainted_expression(expr, calls: set[int], names: set[str]) -> bool:
    """Does this expression read one of the derived calls or names?"""
    tag = expr[0]
    if tag == "c":
        return expr[1] in calls
    if tag == "n":
        return expr[1] in names
    if tag == "b":
        return tainted_expression(expr[2], calls, names) or tainted_expression(expr[3], calls, names)
    if tag in ("u",):
        return tainted_expression(expr[2], calls, names)
    if tag == "t":
        return any(tainted_expression(item, calls, names) for item in expr[1])
    if tag in ("q", "*", "e", "i"):
        return tainted_expression(expr[1], calls, names)
    if tag == "a":
        return expr[2] in _ATTRIBUTES_THAT_ARE_TENSORS and tainted_expression(expr[1], calls, names)
    if tag == "if":
        return tainted_expression(expr[1], calls, names) or tainted_expression(expr[2], calls, names)
    return False
