"""What the three DataLoader rules share: the loader calls of a module, and where their
batches go (the project's loops and frameworks that consume them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from torchlint.project.summary import Call
from torchlint.semantic import api
from torchlint.semantic.context import ModuleContext
from torchlint.semantic.evaluate import BoundArgs
from torchlint.semantic.training import Consumer


@dataclass
class LoaderCall:
    qualname: str
    index: int
    call: Call
    site: tuple
    arguments: BoundArgs
    consumers: list[Consumer]

    def feeding_accelerator(self, ctx: ModuleContext, cuda: bool = False) -> list[Consumer]:
        """Consumers that use an accelerator, in a program that trains (a training loop,
        or an evaluation loop of a training program)."""
        wanted = ("cuda",) if cuda else ("cuda", "accel")
        return [
            c for c in self.consumers
            if c.evidence in wanted and (c.role == "train" or ctx.training.in_training_program(c.module, c.qualname))
        ]


def loader_calls(ctx: ModuleContext) -> Iterator[LoaderCall]:
    for qualname, index, call in ctx.calls():
        if call.func[0] not in ("n", "a") or ctx.callee(qualname, call) != api.DATALOADER:
            continue
        site = ctx.site(call)
        arguments = ctx.ev.loader_arguments(site)
        if arguments is None:
            continue
        yield LoaderCall(qualname, index, call, site, arguments, ctx.training.consumers(site))
