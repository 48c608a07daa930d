"""DataLoaders: what a loader built at a call site is: its bound arguments, its class (a
project subclass of DataLoader reads as torch's), and the batches iterating it yields
(`LoaderValues`, mixed into `Evaluator`).
"""

from __future__ import annotations

from torchlint.project.summary import Call
from torchlint.semantic import api
from torchlint.semantic.params import BoundArgs
from torchlint.semantic.values import Class, Dataset, External, Tensor


class LoaderValues:
    """A loader's arguments, class and batches (a mixin of `Evaluator`)."""

    def loader_elements(self, site) -> frozenset:
        """Batches of a DataLoader: tensors from its dataset, on the host unless the
        dataset already holds device tensors; `exact` only with the default collate."""
        bound = self.loader_arguments(site)
        if bound is None:
            return frozenset([Tensor("host", site, exact=False)])
        exact = not bound.opaque and bound.get("collate_fn") is None and self.loader_class(site) not in api.OBJECT_BATCH_LOADERS
        device = "host"
        dataset = bound.get("dataset")
        if dataset is not None and any(isinstance(v, Dataset) and v.device == "accel" for v in dataset.values):
            device = "accel"
        return frozenset([Tensor(device, site, exact)])

    def loader_arguments(self, site) -> BoundArgs | None:
        module, line, col = site
        return self.memo("loader-args", site, lambda: self._loader_arguments(module, line, col), None)

    def _loader_arguments(self, module, line, col):
        found = self.project.call_at(module, line, col)
        if found is None:
            return None
        qualname, call = found
        frame = (module, qualname)
        return self.bind(call, frame, self.loader_params(call, frame))

    def loader_params(self, call: Call, frame: tuple) -> tuple:
        """The positional parameters of the loader class a call builds."""
        for target, _ in self.targets(call, frame):
            if isinstance(target, External) and target.qualname in api.LOADER_CLASSES:
                return api.LOADER_CLASSES[target.qualname]
            if isinstance(target, Class):
                init = self.find_method(target.module, target.qualname, "__init__")
                summary = self.function(init.module, init.qualname) if init is not None else None
                if summary is not None and init.module == target.module and self.class_summary(target.module, target.qualname).methods.get("__init__"):
                    return tuple(p for p, kind in zip(summary.params[1:], summary.param_kinds[1:]) if kind == "pos")
        return api.DATALOADER_PARAMS

    def loader_class(self, site) -> str | None:
        """The canonical name of the loader class built at `site` (a project subclass of
        torch's DataLoader reads as torch's)."""
        found = self.project.call_at(*site)
        if found is None:
            return None
        qualname, call = found
        found_classes = set()
        for target, _ in self.targets(call, (site[0], qualname)):
            if isinstance(target, External) and target.qualname in api.LOADER_CLASSES:
                found_classes.add(target.qualname)
            elif isinstance(target, Class) and self.is_loader_class(target.module, target.qualname):
                found_classes.add(api.DATALOADER)
            else:
                return None  # not (only) a loader: a user class named DataLoader, say
        return found_classes.pop() if len(found_classes) == 1 else None

    def is_loader_class(self, module: str, qualname: str) -> bool:
        return any(b in api.LOADER_CLASSES for b in self.externals_of(module, qualname))
