"""Calls chained on a call's result within one function: `torch.zeros(n).float().cuda()`,
`t = t.to(device)`. Plain questions over a function's summary, shared by the rules that
follow a tensor from where it is made to where it is moved."""

from __future__ import annotations

from torchlint.semantic import api, expr


def chain_end(function, position: int) -> int:
    """Follow `t.expand_as(x).float().to(device)` from the first call to the last one of
    tensor methods chained on it (while each has exactly one call chained on it)."""
    while expr.method(function.calls[position]) in api.TENSOR_METHODS:
        following = [i for i, c in enumerate(function.calls) if expr.chained_on(c, position) is not None]
        if len(following) != 1:
            break
        position = following[0]
    return position


def is_self_transform(function, name: str, binding) -> bool:
    """`x = x.to(device)`: a rebinding of `name` by methods called on `name` itself."""
    value = binding.value
    while expr.result_of(value) is not None:
        receiver = expr.receiver(function.calls[expr.result_of(value)])
        if receiver is None:
            return False
        value = receiver
        if expr.name(value) == name:
            return True
    return False



def readers_of(function, index: int) -> set[int]:
    """Every call of the function that reads what call `index` returns, directly or through
    calls and names that read it (generously: any use counts, not only tensor operations)."""
    calls, names = {index}, set()
    changed = True
    while changed:
        changed = False
        for position, call in enumerate(function.calls):
            if position not in calls and any(
                expr.reads(part, calls, names) for part in [call.func, *call.args, *(v for _, v in call.keywords)]
            ):
                calls.add(position)
                changed = True
        for name, bindings in function.bindings.items():
            if name not in names and any(expr.reads(b.value, calls, names) for b in bindings):
                names.add(name)
                changed = True
    return calls
