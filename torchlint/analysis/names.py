"""Which torch API an expression really is.

Imports are resolved by hand from the bindings the traversal recorded (libcst's
QualifiedNameProvider costs several parses' worth of time). A name bound both by an
import and by anything else in the same scope is ambiguous, so it resolves to nothing:
a user class called `DataLoader` is not torch's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

if TYPE_CHECKING:
    from torchlint.analysis.model import Scope

# Public re-exports that point at the same object.
_CANONICAL_PREFIXES = {
    "torch.utils.data.dataloader.": "torch.utils.data.",
    "torch.utils.data.dataset.": "torch.utils.data.",
    "torch.utils.data.sampler.": "torch.utils.data.",
    "torch.nn.modules.module.": "torch.nn.",
    "torch.nn.modules.": "torch.nn.",
    "torch.optim.optimizer.": "torch.optim.",
    "torch.nn.parallel.distributed.": "torch.nn.parallel.",
    "torch.nn.parallel.data_parallel.": "torch.nn.parallel.",
    "pytorch_lightning.": "lightning.pytorch.",
    "lightning.pytorch.core.module.": "lightning.pytorch.",
    "lightning.pytorch.core.": "lightning.pytorch.",
    "lightning.pytorch.trainer.trainer.": "lightning.pytorch.",
    "lightning.LightningModule": "lightning.pytorch.LightningModule",
    "lightning.Trainer": "lightning.pytorch.Trainer",
    "lightning.LightningDataModule": "lightning.pytorch.LightningDataModule",
    "torch.nn.parallel.DistributedDataParallel": "torch.nn.parallel.DistributedDataParallel",
}


def canonical(qualname: str) -> str:
    for prefix, replacement in _CANONICAL_PREFIXES.items():
        if qualname.startswith(prefix):
            qualname = replacement + qualname[len(prefix):]
    # torch.nn.modules.linear.Linear -> torch.nn.Linear
    if qualname.startswith("torch.nn.") and qualname.count(".") == 3:
        head, _, last = qualname.rpartition(".")
        if last[:1].isupper() and head not in ("torch.nn.functional", "torch.nn.parallel", "torch.nn.utils", "torch.nn.init"):
            qualname = "torch.nn." + last
    return qualname


def import_qualname(name: str, scope: "Scope") -> str | None:
    """What a bare name stands for, if it is only ever bound by imports of one thing."""
    bindings = scope.lookup(name)
    if not bindings:
        return None
    qualname = None
    for binding in bindings:
        if binding.kind != "import" or binding.qualname is None:
            return None
        if qualname is None:
            qualname = binding.qualname
        elif qualname != binding.qualname:
            return None
    return qualname


def qualname(expr: cst.BaseExpression, scope: "Scope") -> str | None:
    """`t.utils.data.DataLoader` -> "torch.utils.data.DataLoader" (canonical form)."""
    parts: list[str] = []
    node = expr
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    head = import_qualname(node.value, scope)
    if head is None:
        return None
    parts.append(head)
    return canonical(".".join(reversed(parts)))


def call_qualname(call: cst.Call, scope: "Scope") -> str | None:
    return qualname(call.func, scope)


def dotted_name(expr: cst.BaseExpression) -> str | None:
    """The source spelling of `a.b.c`, or None for anything else."""
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        head = dotted_name(expr.value)
        return f"{head}.{expr.attr.value}" if head else None
    return None


def last_name(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return None
