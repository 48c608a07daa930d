"""What the three DataLoader rules share: the loader calls of a module, and where their
batches go (the project's loops and frameworks that consume them)."""

from __future__ import annotations

from dataclasses import dataclass

from torchlint.fixes import Fix, keyword_fix
from torchlint.project.summary import Call
from torchlint.semantic import expr
from torchlint.semantic.context import BoundArgs, Consumer, ModuleContext


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
        an evaluation loop of a training program, or a framework's, which validates as
        it trains)."""
        wanted = ("cuda",) if cuda else ("cuda", "accel")
        return [
            c for c in self.consumers
            if c.evidence in wanted
            and (c.role == "train" or c.how != "loop" or ctx.on_training_path(c.qualname, c.module))
        ]


def loader_calls(ctx: ModuleContext) -> list[LoaderCall]:
    """The calls of the module that build a DataLoader (torch's, a subclass or a wrapper
    that hands its options to it); computed once per module for the three rules."""
    return ctx.module_fact(_loader_calls, [])


def _loader_calls(ctx: ModuleContext) -> list[LoaderCall]:
    found = []
    for qualname, index, call in ctx.calls():
        name = expr.called_name(call)
        # Loader classes and their subclasses are named so (`DataLoader`, `NeighborLoader`,
        # `ShaDowKHopSampler`, a project's `AudioDataLoader`): a cheap first sieve.
        if not isinstance(name, str):
            continue
        if not ("Loader" in name or name.endswith("Sampler")) and not (expr.function_name(call) and _imported(ctx, qualname, name)):
            continue  # not a loader by its name, nor an alias (`DataLoader as DL`)
        site = ctx.site(call)
        if ctx.loader_class(site) is None:
            continue
        arguments = ctx.loader_arguments(site)
        if arguments is None:
            continue
        found.append(LoaderCall(qualname, index, call, site, arguments, ctx.loader_consumers(site)))
    return found


def _imported(ctx: ModuleContext, qualname: str, name: str) -> bool:
    defining = ctx.defining_function(qualname, name)
    if defining is None:
        return False
    return any(b.kind == "import" for b in ctx.function(defining).bindings.get(name, ()))


def set_loader_keyword(ctx: ModuleContext, loader: LoaderCall, keyword: str, position: int, given: bool,
                       value: str, applicability: str, message: str, imports: list) -> Fix:
    """A fix that sets `keyword=value` on the loader call: replaces the argument given by
    keyword or at `position` (`given`), or adds the keyword. Its libcst edit is built only
    when the output shows it; a call libcst cannot place is shown, not applied."""

    return keyword_fix(ctx.source, loader.call.span, keyword, value, applicability, message,
                       given=given, position=position, extra=imports)
