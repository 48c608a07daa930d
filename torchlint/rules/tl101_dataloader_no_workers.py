"""TL101 dataloader-no-workers: batches are loaded in the training process."""

from __future__ import annotations

from typing import Iterator

from torchlint.fixes import DISPLAY_ONLY, UNSAFE, Fix, import_edit, module_alias, name_is_free
from torchlint.rules.base import Effect, Finding, Rule
from torchlint.rules.loaders import LoaderCall, loader_calls, set_loader_keyword
from torchlint.semantic import expr
from torchlint.semantic.context import ModuleContext
from torchlint.semantic.loaders import CUSTOM_BATCH, ITERABLE_UNSHARDED
from torchlint.semantic.values import Dataset, Function, Instance, only_const

class DataloaderNoWorkers(Rule):
    code = "TL101"
    name = "dataloader-no-workers"
    summary = "DataLoader without worker processes in accelerator training"
    fixes = (UNSAFE,)
    fix_scope = "opt-in with `--unsafe-fixes` (see Fix safety)"
    effect = Effect.ANY_DEVICE

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test:
            return
        for loader in loader_calls(ctx):
            if not loader.feeding_accelerator(ctx):
                continue
            workers = loader.arguments.get("num_workers")
            if workers is None:
                if loader.arguments.opaque:
                    continue  # may hide in **kwargs
                why = "`num_workers` defaults to 0"
            else:
                value = only_const(workers.values)
                if type(value) is not int or value != 0:
                    continue
                why = "`num_workers=0`"
            if ctx.loader_traits(loader.site) - {CUSTOM_BATCH}:
                continue  # in memory, an unsharded iterable, or accelerator tensors: 0 is right
            yield Finding(
                loader.call.span,
                f"DataLoader loads every batch in the training process ({why}), so the "
                "accelerator waits for data; set `num_workers=4` (up to the CPU cores per GPU)",
                lambda loader=loader, workers=workers: self._fix(ctx, loader, workers),
            )

    def _fix(self, ctx: ModuleContext, loader: LoaderCall, workers) -> Fix:
        """`num_workers=min(4, os.cpu_count() or 1)`, where worker processes are sure to work."""
        blocker = self._blocker(ctx, loader)
        os_name = module_alias(ctx.summary, "os")
        imports = []
        if os_name is None:
            edit = import_edit(ctx.summary, ctx.source, "os") if name_is_free(ctx.summary, "os") else None
            if edit is None:
                blocker = blocker or "the name `os` is taken"
            else:
                os_name, imports = "os", [edit]
        value = f"min(4, {os_name or 'os'}.cpu_count() or 1)"
        message = f"Set `num_workers={value}`"
        if workers is not None and (workers.expr is None or not expr.is_constant(workers.expr)):
            blocker = blocker or "the value comes from elsewhere (a constant or a command-line default); change it there"
        if blocker:
            return Fix(DISPLAY_ONLY, f"{message}; not applied: {blocker}")
        # Workers draw their seeds from the main random stream, so later random numbers
        # (dropout, augmentation) change: results differ from run to run of the old code.
        unsafe_message = f"{message} (random streams change with worker processes)"

        return set_loader_keyword(ctx, loader, "num_workers", 5, workers is not None, value, UNSAFE, unsafe_message, imports)

    def _blocker(self, ctx: ModuleContext, loader: LoaderCall) -> str | None:
        """Why worker processes might fail here, or None when they are known to work."""
        dataset = loader.arguments.get("dataset")
        if dataset is None or not dataset.values or not all(_map_style(ctx, v) for v in dataset.values):
            return "the dataset is not known to be a map-style Dataset"
        for key in ("collate_fn", "worker_init_fn"):
            found = loader.arguments.get(key)
            if found is None:
                continue
            functions = [v for v in found.values if isinstance(v, Function)]
            if len(functions) != len(found.values) or any(
                ctx.function(f.qualname, f.module) is None or ctx.function(f.qualname, f.module).parent != "<module>"
                or ctx.function(f.qualname, f.module).kind == "lambda"
                for f in functions
            ):
                return f"`{key}` must be a module-level function to reach worker processes"
        modules = {loader.site[0]} | {c.module for c in loader.consumers}
        if not any(ctx.module_summary(m).has_main_guard for m in modules if ctx.module_summary(m)):
            return "the script has no `if __name__ == \"__main__\":` guard, which spawned workers need"
        return None


def _map_style(ctx: ModuleContext, value) -> bool:
    if isinstance(value, Dataset):
        return value.kind in ("io", "rows")
    if isinstance(value, Instance):
        externals = ctx.library_bases(value.qualname, value.module)
        return (
            "torch.utils.data.Dataset" in externals
            and ITERABLE_UNSHARDED not in ctx.dataset_traits(value.qualname, value.module)
            and "torch.utils.data.IterableDataset" not in externals
        )
    return False

