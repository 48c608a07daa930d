"""TL102 dataloader-no-pin-memory: host-to-device copies from pageable memory."""

from __future__ import annotations

from typing import Iterator


from torchlint.fixes import DISPLAY_ONLY, SAFE, Fix, torch_reference
from torchlint.rules.base import Effect, Finding, Rule
from torchlint.rules.loaders import LoaderCall, loader_calls, set_loader_keyword
from torchlint.semantic import expr
from torchlint.semantic.context import ModuleContext
from torchlint.semantic.loaders import CUSTOM_BATCH, MAKES_ACCELERATOR_TENSORS
from torchlint.semantic.values import only_const


class DataloaderNoPinMemory(Rule):
    code = "TL102"
    name = "dataloader-no-pin-memory"
    summary = "DataLoader feeding CUDA without pinned memory"
    fixes = (SAFE,)
    effect = Effect.GPU_ONLY

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test:
            return
        for loader in loader_calls(ctx):
            if not any(c.moves_batches for c in loader.feeding_accelerator(ctx, cuda=True)):
                continue
            pin = loader.arguments.get("pin_memory")
            if pin is None:
                if loader.arguments.opaque:
                    continue
                why = "`pin_memory` defaults to False"
            else:
                if only_const(pin.values) is not False:
                    continue
                why = "`pin_memory=False`"
            if {MAKES_ACCELERATOR_TENSORS, CUSTOM_BATCH} & ctx.loader_traits(loader.site):
                continue  # pinning device tensors raises; pinning does not reach custom batch objects
            yield Finding(
                loader.call.span,
                f"DataLoader batches are copied to CUDA from pageable memory ({why}); set "
                "`pin_memory=torch.cuda.is_available()` (or `True`) for faster, asynchronous host-to-device copies",
                lambda loader=loader, pin=pin: self._fix(ctx, loader, pin),
            )

    def _fix(self, ctx: ModuleContext, loader: LoaderCall, pin) -> Fix:
        """`pin_memory=torch.cuda.is_available()`: pinned where CUDA is, quiet on CPU-only hosts."""
        torch = torch_reference(ctx.summary, ctx.source)
        message = "Set `pin_memory=torch.cuda.is_available()`"
        if torch is None:
            return Fix(DISPLAY_ONLY, message)
        name, imports = torch
        value = f"{name}.cuda.is_available()"
        message = f"Set `pin_memory={value}`"
        if pin is not None and (pin.expr is None or not expr.is_constant(pin.expr)):
            return Fix(DISPLAY_ONLY, f"{message}; not applied: the value comes from elsewhere; change it there")
        return set_loader_keyword(ctx, loader, "pin_memory", 7, pin is not None, value, SAFE, message, imports)
