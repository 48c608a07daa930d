"""TL203 discarded-device-move: `x.to(device)` as a statement does not move `x`."""

from __future__ import annotations

import re
from typing import Iterator

import libcst as cst

from torchlint.analysis.facts import Facts
from torchlint.analysis.names import dotted_name
from torchlint.rules.base import DISPLAY_ONLY, SAFE, Fix, NodeEdit, Report, Rule

_MOVES = ("to", "cuda", "cpu")


class DiscardedDeviceMove(Rule):
    code = "TL203"
    name = "discarded-device-move"
    summary = "Result of a tensor's .to()/.cuda() is thrown away"
    fix_availability = "safe, plain names"
    triggers = (".to(", ".cuda(", ".cpu(")
    # A statement that starts with `receiver.to(`: at a line start or after `:`/`;`.
    pattern = re.compile(r"(?:^|[:;])[ \t]*[A-Za-z_][\w.]*(?:\[[^\]\n]*\])*\.(?:to|cuda|cpu)\(", re.M)

    def check(self, facts: Facts) -> Iterator[Report]:
        for statement in facts.model.expr_statements:
            func = statement.call.func
            if not isinstance(func, cst.Attribute) or func.attr.value not in _MOVES:
                continue
            receiver = func.value
            if facts.kind_of(receiver, statement.scope) != "tensor":
                continue  # modules move in place; unknown receivers may too
            spelled = dotted_name(receiver) or facts.model.module.code_for_node(receiver)
            call = facts.model.module.code_for_node(statement.call)
            assignment = f"{spelled} = {call}"
            if isinstance(receiver, cst.Name):
                fix = Fix(SAFE, f"Assign the result: `{assignment}`", [NodeEdit(statement.call, assignment)])
            else:
                fix = Fix(DISPLAY_ONLY, f"Assign the result: `{assignment}` (applied only to plain names)")
            yield Report(
                statement.node,
                f"`{call}` returns a new tensor and the result is discarded, so `{spelled}` "
                f"stays where it was; assign it: `{assignment}`",
                fix,
            )
