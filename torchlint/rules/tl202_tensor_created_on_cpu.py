"""TL202 tensor-created-on-cpu: a tensor is built on the host only to be copied over."""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from torchlint.analysis.facts import TENSOR_FACTORIES, Facts
from torchlint.analysis.model import CallSite
from torchlint.rules.base import ACCELERATOR_WORDS, DISPLAY_ONLY, SAFE, UNSAFE, Fix, NodeEdit, Report, Rule
from torchlint.rules.editing import with_keyword


class TensorCreatedOnCpu(Rule):
    code = "TL202"
    name = "tensor-created-on-cpu"
    summary = "Tensor created on the CPU and then moved to the device"
    fix_availability = "safe or unsafe"
    triggers = (".to(", ".cuda(")
    requires = ACCELERATOR_WORDS

    def check(self, facts: Facts) -> Iterator[Report]:
        if not facts.accelerator_evidence:
            return
        for site in facts.model.calls:
            q = facts.call_qualname(site)
            if q is None or not q.startswith("torch.") or q.count(".") != 1:
                continue
            factory = q[len("torch."):]
            if factory not in TENSOR_FACTORIES:
                continue
            if any(a.keyword is not None and a.keyword.value == "device" for a in site.node.args):
                continue
            if any(a.star for a in site.node.args):
                continue
            if facts.in_host_code(site.function):
                continue  # datasets and collate functions build host tensors on purpose
            move = self._move_of(facts, site)
            if move is None:
                continue
            device = _device_text(facts, move)
            yield Report(
                site.node,
                f"`torch.{factory}(...)` builds the tensor on the CPU and then copies it to the "
                f"device; create it there: `torch.{factory}(..., device={device})`",
                self._fix(facts, site, move, factory, device),
            )

    def _fix(self, facts: Facts, site: CallSite, move: cst.Call, factory: str, device: str) -> Fix:
        message = f"Create the tensor on the device: `torch.{factory}(..., device={device})`"
        chained = facts.model.method_call_on.get(id(site.node)) is move
        if not chained or not _only_moves(move):
            return Fix(DISPLAY_ONLY, message + " (applied only to a `.to(device)`/`.cuda()` chained on the call)")
        created = with_keyword(site.node, "device", device)
        edit = NodeEdit(move, replacement=created)
        if factory in SAME_VALUES_ON_ANY_DEVICE or (factory == "arange" and _integer_arguments(facts, site)):
            return Fix(SAFE, message, [edit])
        # Random streams differ between CPU and CUDA; computed values may differ in the last bit.
        return Fix(UNSAFE, message + " (values differ: another random stream or rounding on the device)", [edit])

    def _move_of(self, facts: Facts, site: CallSite) -> cst.Call | None:
        """The `.to(device)`/`.cuda()` call that moves this factory's result, if any:
        chained (`torch.zeros(n).cuda()`), or the very next use of the name it is
        assigned to, in the same function (`t = torch.zeros(n)` ... `t = t.to(device)`)."""
        outer = facts.model.method_call_on.get(id(site.node))
        if outer is not None:
            return outer if facts.moves_to_device(outer, site.scope) else None
        binding = facts.binding_of_value.get(id(site.node))
        if binding is None or binding.name.startswith("self.") or binding.scope is not site.scope:
            return None
        scope = binding.scope
        others = [b for b in scope.bindings.get(binding.name, []) if b is not binding]
        if any(not facts.is_self_transform(b) for b in others):
            return None  # the name is reused for something else
        later = sorted(r for r in scope.references.get(binding.name, []) if r[0] > binding.order)
        if not later:
            return None
        move = facts.receiver_calls.get(id(later[0][1]))
        if move is None or not facts.moves_to_device(move.node, move.scope):
            return None
        if id(move.node) in facts.discarded_calls:
            return None  # `t.to(device)` alone moves nothing: TL203's business
        rebinding = facts.binding_of_value.get(id(move.node))
        if rebinding is not None and rebinding.name == binding.name:
            return move.node  # `t = t.to(device)`: later uses read the moved tensor
        if len(later) > 1:
            return None  # the CPU tensor is used again after the copy
        return move.node


# Factories whose values do not depend on where they are computed.
SAME_VALUES_ON_ANY_DEVICE = frozenset("zeros ones full eye empty tensor as_tensor tril_indices triu_indices".split())
_MOVE_OPTIONS = ("non_blocking", "copy")


def _only_moves(move: cst.Call) -> bool:
    """`.to(device)`, `.to(device, non_blocking=True)`, `.cuda()`, `.cuda(0)`: nothing but a move
    (a dtype or memory format would have to be carried over too)."""
    positional = [a for a in move.args if a.keyword is None and not a.star]
    keywords = [a.keyword.value for a in move.args if a.keyword is not None]
    if any(a.star for a in move.args) or any(k not in ("device", *_MOVE_OPTIONS) for k in keywords):
        return False
    if isinstance(move.func, cst.Attribute) and move.func.attr.value == "cuda":
        return not positional or (len(positional) == 1 and isinstance(positional[0].value, cst.Integer))
    return len(positional) + keywords.count("device") == 1


def _integer_arguments(facts: Facts, site: CallSite) -> bool:
    values = [facts.value(a.value, site.scope) for a in site.node.args if a.keyword is None]
    return bool(values) and all(type(v) is int for v in values)


def _device_text(facts: Facts, move: cst.Call) -> str:
    func = move.func
    if isinstance(func, cst.Attribute) and func.attr.value == "cuda":
        if move.args and move.args[0].keyword is None:
            index = facts.model.module.code_for_node(move.args[0].value)
            return f'"cuda:{index}"' if index.isdigit() else f"{index}"
        return '"cuda"'
    for arg in move.args:
        if arg.keyword is not None and arg.keyword.value == "device":
            return facts.model.module.code_for_node(arg.value)
        if arg.keyword is None:
            return facts.model.module.code_for_node(arg.value)
    return "device"
