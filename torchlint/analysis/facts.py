"""The questions rules ask, answered from one FileModel and cached.

- names: `qualname()` (see names.py)
- values: `value()`, `bind_call()` with `**kwargs` splats (see values.py)
- loops: `training_loops`, `trains()` for functions, `is_training_call()`
- devices: `cuda_evidence`, `accelerator_evidence`, `kind_of()` (module / tensor / loader)
- classes: `subclasses()`, dataset methods and collate functions (host code by design)
- frameworks: Lightning, Hugging Face Trainer, accelerate
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import libcst as cst

from torchlint.analysis.model import (
    Binding,
    CallSite,
    ClassInfo,
    FileModel,
    FunctionInfo,
    LoopInfo,
    Scope,
)
from torchlint.analysis.names import call_qualname, canonical, dotted_name, last_name, qualname
from torchlint.analysis.values import UNKNOWN, ValueResolver, collect_argparse

DATALOADER = "torch.utils.data.DataLoader"
DATALOADER_PARAMS = (
    "dataset",
    "batch_size",
    "shuffle",
    "sampler",
    "batch_sampler",
    "num_workers",
    "collate_fn",
    "pin_memory",
    "drop_last",
    "timeout",
    "worker_init_fn",
)

# torch functions that build a new tensor from sizes or data and accept `device=`.
TENSOR_FACTORIES = frozenset(
    """zeros ones empty full arange range linspace logspace eye rand randn randint randperm
    tensor as_tensor normal bernoulli multinomial poisson empty_strided tril_indices
    triu_indices sparse_coo_tensor complex polar""".split()
)
# Factories whose values come from a random number generator: moving them changes the stream.
RANDOM_FACTORIES = frozenset("rand randn randint randperm normal bernoulli multinomial poisson".split())
# torch functions that return tensors (beyond the factories), for "is this a tensor?".
_TENSOR_FUNCTIONS = TENSOR_FACTORIES | frozenset(
    """from_numpy cat stack concat hstack vstack where matmul mm bmm einsum exp log sigmoid
    tanh relu softmax log_softmax clamp abs sqrt sum mean max min argmax argmin flatten
    reshape squeeze unsqueeze transpose permute zeros_like ones_like empty_like full_like
    rand_like randn_like randint_like clone cumsum sort topk gather index_select masked_fill
    sin cos pow mul add sub div""".split()
)
# Tensor methods that return a tensor.
_TENSOR_METHODS = frozenset(
    """to cuda cpu float half double bfloat16 long int bool view reshape unsqueeze squeeze
    permute transpose contiguous clone detach flatten t expand repeat sum mean abs sqrt exp
    log sigmoid softmax log_softmax pin_memory type_as view_as narrow select index_select
    masked_fill add sub mul div pow clamp""".split()
)
# Module methods that return the module itself.
_MODULE_SELF_METHODS = frozenset("to cuda cpu float half double bfloat16 train eval requires_grad_ to_empty xpu".split())
_NOT_MODULES = frozenset(
    "torch.nn.Parameter torch.nn.Buffer torch.nn.init torch.nn.functional torch.nn.utils torch.nn.parallel".split()
)
_PARAMETER_FREE_LAYERS = frozenset(
    """ReLU ReLU6 LeakyReLU GELU SiLU Mish ELU SELU CELU Sigmoid Tanh Softmax LogSoftmax Softplus
    Hardtanh Hardswish Hardsigmoid Tanhshrink Softsign Dropout Dropout1d Dropout2d Dropout3d
    AlphaDropout Identity Flatten Unflatten MaxPool1d MaxPool2d MaxPool3d AvgPool1d AvgPool2d
    AvgPool3d AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d
    AdaptiveMaxPool2d AdaptiveMaxPool3d Upsample PixelShuffle PixelUnshuffle CosineSimilarity
    PairwiseDistance ZeroPad2d ConstantPad1d ConstantPad2d ReflectionPad2d""".split()
)
_DEVICE_NAME = re.compile(r"(?i)device|^(?:dev|gpu|gpu_id|rank|local_rank)$")
_OPTIMIZER_NAME = re.compile(r"(?i)optim|^opt(?:$|_|[A-Z0-9])")


@dataclass
class BoundCall:
    """The arguments of one call, mapped to parameter names."""

    arguments: dict[str, tuple[cst.BaseExpression, Scope]]
    # A `**kwargs` (or `*args`) whose content is not known: any parameter may be in it.
    opaque: bool

    def get(self, name: str) -> tuple[cst.BaseExpression, Scope] | None:
        return self.arguments.get(name)


class Facts:
    def __init__(self, model: FileModel, source: str) -> None:
        self.model = model
        self.source = source
        self._qualnames: dict[int, str | None] = {}
        self._kinds: dict[tuple[int, int], str | None] = {}

    # -- names -------------------------------------------------------------

    def call_qualname(self, site_or_call: CallSite | cst.Call, scope: Scope | None = None) -> str | None:
        if isinstance(site_or_call, CallSite):
            call, scope = site_or_call.node, site_or_call.scope
        else:
            call = site_or_call
        key = id(call)
        if key not in self._qualnames:
            self._qualnames[key] = call_qualname(call, scope) if scope is not None else None
        return self._qualnames[key]

    def qualname(self, expr: cst.BaseExpression, scope: Scope) -> str | None:
        return qualname(expr, scope)

    # -- values ------------------------------------------------------------

    @cached_property
    def values(self) -> ValueResolver:
        options = collect_argparse(self.model, lambda opts: ValueResolver(self.model, opts))
        return ValueResolver(self.model, options)

    def value(self, expr: cst.BaseExpression | None, scope: Scope) -> object:
        return self.values.value(expr, scope)

    def bind_call(self, call: cst.Call, scope: Scope, params: tuple[str, ...]) -> BoundCall:
        arguments: dict[str, tuple[cst.BaseExpression, Scope]] = {}
        opaque = False
        position = 0
        for arg in call.args:
            if arg.star == "*":
                opaque = True  # positions after a splat are unknown
                position = len(params)
            elif arg.star == "**":
                splat = self.dict_entries(arg.value, scope)
                if splat is None:
                    opaque = True
                else:
                    arguments.update(splat)
            elif arg.keyword is not None:
                arguments[arg.keyword.value] = (arg.value, scope)
            else:
                if position < len(params):
                    arguments[params[position]] = (arg.value, scope)
                position += 1
        return BoundCall(arguments, opaque)

    def dict_entries(
        self, expr: cst.BaseExpression, scope: Scope, depth: int = 0
    ) -> dict[str, tuple[cst.BaseExpression, Scope]] | None:
        """The keys and values of a dict built in plain sight, or None."""
        if depth > 4:
            return None
        if isinstance(expr, cst.Dict):
            entries: dict[str, tuple[cst.BaseExpression, Scope]] = {}
            for element in expr.elements:
                if isinstance(element, cst.StarredDictElement):
                    inner = self.dict_entries(element.value, scope, depth + 1)
                    if inner is None:
                        return None
                    entries.update(inner)
                    continue
                key = self.value(element.key, scope)
                if not isinstance(key, str):
                    return None
                entries[key] = (element.value, scope)
            return entries
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "dict":
            if scope.lookup("dict"):
                return None
            entries = {}
            for arg in expr.args:
                if arg.star == "**":
                    inner = self.dict_entries(arg.value, scope, depth + 1)
                    if inner is None:
                        return None
                    entries.update(inner)
                elif arg.keyword is not None:
                    entries[arg.keyword.value] = (arg.value, scope)
                else:
                    return None
            return entries
        if isinstance(expr, cst.Name):
            return self._named_dict_entries(expr.value, scope, depth)
        return None

    def _named_dict_entries(self, name: str, scope: Scope, depth: int):
        bindings = scope.lookup(name)
        if len(bindings) != 1 or bindings[0].kind != "assign" or bindings[0].value is None:
            return None
        binding = bindings[0]
        entries = self.dict_entries(binding.value, binding.scope, depth + 1)
        if entries is None:
            return None
        entries = dict(entries)
        # Mutations count only when they run whenever the dict is built (same block).
        for statement, where, blocks in self.model.subscript_stores.get(name, ()):
            if where is not binding.scope:
                continue
            if blocks != binding.blocks:
                return None
            for target in statement.targets:
                subscript = target.target
                if not isinstance(subscript, cst.Subscript) or len(subscript.slice) != 1:
                    return None
                index = subscript.slice[0].slice
                key = self.value(index.value, where) if isinstance(index, cst.Index) else UNKNOWN
                if not isinstance(key, str):
                    return None
                entries[key] = (statement.value, where)
        for site in self.model.calls:
            func = site.node.func
            if (
                isinstance(func, cst.Attribute)
                and isinstance(func.value, cst.Name)
                and func.value.value == name
                and site.scope.lookup(name) is bindings
            ):
                if func.attr.value not in ("update", "setdefault") or site.blocks != binding.blocks:
                    return None
                if func.attr.value == "setdefault" or len(site.node.args) != 1:
                    return None
                inner = self.dict_entries(site.node.args[0].value, site.scope, depth + 1)
                if inner is None or site.node.args[0].star:
                    return None
                entries.update(inner)
        return entries

    # -- classes -----------------------------------------------------------

    def base_qualnames(self, info: ClassInfo, depth: int = 0) -> set[str]:
        """Qualified names of every ancestor, following same-file classes."""
        result: set[str] = set()
        if depth > 10:
            return result
        for base in info.bases:
            local = self.local_class(base, info.outer)
            if local is not None:
                result.add(f"<local>.{local.name}")
                result |= self.base_qualnames(local, depth + 1)
                continue
            name = qualname(base, info.outer)
            if name is not None:
                result.add(name)
            else:
                spelled = dotted_name(base)
                if spelled:
                    result.add(f"<unresolved>.{spelled}")
        return result

    def local_class(self, expr: cst.BaseExpression, scope: Scope) -> ClassInfo | None:
        if not isinstance(expr, cst.Name):
            return None
        bindings = scope.lookup(expr.value)
        if len(bindings) != 1 or bindings[0].kind != "class":
            return None
        return self.model.class_of_node.get(id(bindings[0].node))

    def local_function(self, expr: cst.BaseExpression, scope: Scope, classes: tuple[ClassInfo, ...] = ()) -> FunctionInfo | None:
        """The same-file function a call target names (`helper`, `self.helper`)."""
        if isinstance(expr, cst.Name):
            bindings = scope.lookup(expr.value)
            if len(bindings) != 1 or bindings[0].kind != "def":
                return None
            return self.model.function_of_node.get(id(bindings[0].node))
        if (
            isinstance(expr, cst.Attribute)
            and isinstance(expr.value, cst.Name)
            and expr.value.value == "self"
            and classes
        ):
            return self.method(classes[-1], expr.attr.value)
        return None

    def method(self, info: ClassInfo, name: str, depth: int = 0) -> FunctionInfo | None:
        if name in info.methods:
            return info.methods[name]
        if depth > 10:
            return None
        for base in info.bases:
            local = self.local_class(base, info.outer)
            if local is not None:
                found = self.method(local, name, depth + 1)
                if found is not None:
                    return found
        return None

    def is_nn_module_class(self, info: ClassInfo) -> bool:
        bases = self.base_qualnames(info)
        return any(
            b in ("torch.nn.Module", "lightning.pytorch.LightningModule")
            or (b.startswith("torch.nn.") and b.rpartition(".")[2][:1].isupper())
            or b.startswith("transformers.")
            for b in bases
        )

    def is_lightning_module_class(self, info: ClassInfo) -> bool:
        return "lightning.pytorch.LightningModule" in self.base_qualnames(info)

    @cached_property
    def dataset_classes(self) -> list[ClassInfo]:
        found = []
        for info in self.model.classes:
            bases = self.base_qualnames(info)
            if any(b.startswith("torch.utils.data.") and b.endswith("Dataset") for b in bases):
                found.append(info)
        return found

    def is_iterable_dataset_class(self, info: ClassInfo) -> bool:
        return "torch.utils.data.IterableDataset" in self.base_qualnames(info)

    @cached_property
    def host_functions(self) -> set[int]:
        """ids of functions that run on the host by design: dataset methods, collate functions."""
        result: set[int] = set()
        for info in self.dataset_classes:
            for method in info.methods.values():
                result.add(id(method.node))
        for site in self.dataloader_calls:
            bound = self.bind_call(site.node, site.scope, DATALOADER_PARAMS)
            for key in ("collate_fn", "worker_init_fn"):
                found = bound.get(key)
                if found is not None:
                    function = self.local_function(found[0], found[1])
                    if function is not None:
                        result.add(id(function.node))
        for function in self.model.functions:
            if "collate" in function.name:
                result.add(id(function.node))
        return result

    def in_host_code(self, function: FunctionInfo | None) -> bool:
        while function is not None:
            if id(function.node) in self.host_functions:
                return True
            parent = function.scope.parent
            while parent is not None and parent.kind not in ("function", "module"):
                parent = parent.parent
            function = self.model.function_of_node.get(id(parent.node)) if parent is not None else None
        return False

    # -- calls by API ------------------------------------------------------

    @cached_property
    def dataloader_calls(self) -> list[CallSite]:
        return [s for s in self.model.calls if self.call_qualname(s) == DATALOADER]

    # -- training ------------------------------------------------------------

    def is_optimizer_receiver(self, expr: cst.BaseExpression, scope: Scope) -> bool:
        if isinstance(expr, cst.Call):
            return False
        name = last_name(expr)
        if name is None:
            return False
        if _OPTIMIZER_NAME.search(name) or "scaler" in name.lower():
            return True
        if isinstance(expr, cst.Name):
            for binding in scope.lookup(name):
                if isinstance(binding.value, cst.Call):
                    q = qualname(binding.value.func, binding.scope)
                    if q and (q.startswith("torch.optim.") or q.endswith("GradScaler")):
                        return True
        return False

    def is_training_call(self, site: CallSite) -> bool:
        func = site.node.func
        if not isinstance(func, cst.Attribute):
            return False
        attr = func.attr.value
        if attr == "backward":
            return True
        if attr == "step":
            return self.is_optimizer_receiver(func.value, site.scope)
        if attr == "manual_backward":
            return True
        return False

    @cached_property
    def training_functions(self) -> set[int]:
        """ids of functions that train: backward/step directly or through same-file helpers."""
        trains: set[int] = set()
        callees: dict[int, list[FunctionInfo]] = {}
        for function in self.model.functions:
            targets = []
            for site in function.calls:
                if self.is_training_call(site):
                    trains.add(id(function.node))
                    break
                callee = self.local_function(site.node.func, site.scope, site.classes)
                if callee is not None:
                    targets.append(callee)
            callees[id(function.node)] = targets
        changed = True
        while changed:
            changed = False
            for function in self.model.functions:
                key = id(function.node)
                if key not in trains and any(id(c.node) in trains for c in callees[key]):
                    trains.add(key)
                    changed = True
        return trains

    def call_trains(self, site: CallSite) -> bool:
        if self.is_training_call(site):
            return True
        callee = self.local_function(site.node.func, site.scope, site.classes)
        return callee is not None and id(callee.node) in self.training_functions

    @cached_property
    def training_loops(self) -> list[LoopInfo]:
        marked: dict[int, LoopInfo] = {}
        for site in self.model.calls:
            if site.loops and self.call_trains(site):
                for loop in site.loops:
                    marked[id(loop.node)] = loop
        for loop in marked.values():
            loop.trains = True
        return list(marked.values())

    @cached_property
    def has_framework_training(self) -> bool:
        """`trainer.fit(...)`, `trainer.train()`: Lightning or Hugging Face run the loop."""
        return bool(self.lightning_trainers or self.hf_trainers)

    @cached_property
    def trains(self) -> bool:
        return bool(self.training_loops) or self.has_framework_training

    # -- frameworks --------------------------------------------------------

    def _calls_to(self, *names: str) -> list[CallSite]:
        return [site for site in self.model.calls if self.call_qualname(site) in names]

    @cached_property
    def lightning_trainers(self) -> list[CallSite]:
        return self._calls_to("lightning.pytorch.Trainer")

    @cached_property
    def hf_trainers(self) -> list[CallSite]:
        return [
            s
            for s in self.model.calls
            if (q := self.call_qualname(s)) is not None
            and q.startswith(("transformers.", "trl.", "setfit."))
            and q.endswith("Trainer")
        ]

    @cached_property
    def uses_accelerate(self) -> bool:
        return bool(self._calls_to("accelerate.Accelerator"))

    # -- devices -----------------------------------------------------------

    @cached_property
    def cuda_evidence(self) -> bool:
        if self.model.cuda_strings:
            return True
        for site in self.model.calls:
            func = site.node.func
            if isinstance(func, cst.Attribute) and func.attr.value == "cuda":
                return True
            name = dotted_name(func)
            if name and ".cuda." in f".{name}.":
                if (self.call_qualname(site) or "").startswith("torch.cuda."):
                    return True
        return False

    @cached_property
    def accelerator_evidence(self) -> bool:
        if self.cuda_evidence or self.model.mps_strings or self.uses_accelerate:
            return True
        for site in self.lightning_trainers:
            accelerator = self.keyword(site, "accelerator")
            if accelerator is None or self.value(*accelerator) != "cpu":
                return True
        for site in self.model.calls:
            for arg in site.node.args:
                if arg.keyword is not None and arg.keyword.value == "device_map":
                    return True
            q = self.call_qualname(site)
            if q in ("torch.device", "torch.get_default_device"):
                if site.node.args and self.value(site.node.args[0].value, site.scope) != "cpu":
                    return True
            if q and q.startswith(("torch.backends.mps.", "torch.xpu.", "torch.accelerator.")):
                return True
        return False

    def _unit_evidence(self, calls: list[CallSite], cuda_strings: int, params: list[cst.Param]) -> bool:
        if cuda_strings:
            return True
        for param in params:
            if _DEVICE_NAME.search(param.name.value):
                return True
        for site in calls:
            func = site.node.func
            if isinstance(func, cst.Attribute) and func.attr.value == "cuda":
                return True
            if self.moves_to_device(site.node, site.scope):
                return True
            q = self.call_qualname(site) or ""
            if q.startswith(("torch.cuda.", "torch.backends.mps.", "torch.accelerator.", "torch.xpu.")):
                return True
            if q == "torch.device" and site.node.args and self.value(site.node.args[0].value, site.scope) != "cpu":
                return True
        return False

    @cached_property
    def _module_level_evidence(self) -> bool:
        strings = self.model.cuda_strings - sum(f.cuda_strings for f in self.model.functions)
        calls = [s for s in self.model.calls if s.function is None]
        return self._unit_evidence(calls, strings, [])

    def sets_up_accelerator(self, function: FunctionInfo | None) -> bool:
        """Does the code around `function` (itself, the functions enclosing it, its class's
        methods, the module's top level) set up or use an accelerator? Narrower than the
        file-level evidence, so that one CUDA test in a large file does not make every
        other function in it "accelerator code"."""
        if not self.accelerator_evidence:
            return False
        if self._module_level_evidence:
            return True
        units: list[FunctionInfo] = []
        current = function
        while current is not None:
            units.append(current)
            if current.owner is not None:
                units.extend(self.class_methods_of(current.owner))
            parent = current.scope.parent
            while parent is not None and parent.kind not in ("function", "module"):
                parent = parent.parent
            current = self.model.function_of_node.get(id(parent.node)) if parent is not None else None
        return any(self._unit_evidence(u.calls, u.cuda_strings, u.params) for u in units)

    def class_methods_of(self, info: ClassInfo, depth: int = 0) -> list[FunctionInfo]:
        methods = list(info.methods.values())
        if depth < 10:
            for base in info.bases:
                local = self.local_class(base, info.outer)
                if local is not None:
                    methods += self.class_methods_of(local, depth + 1)
        return methods

    def keyword(self, site: CallSite, name: str) -> tuple[cst.BaseExpression, Scope] | None:
        for arg in site.node.args:
            if arg.keyword is not None and arg.keyword.value == name:
                return arg.value, site.scope
        return None

    def is_device_expr(self, expr: cst.BaseExpression, scope: Scope) -> bool:
        """Does this `.to(...)` argument name a device (not a dtype)?"""
        value = self.value(expr, scope)
        if isinstance(value, str):
            return True
        if isinstance(value, int) and not isinstance(value, bool):
            return True  # a CUDA device index
        if isinstance(expr, cst.Call):
            q = self.call_qualname(expr, scope)
            return q == "torch.device"
        q = qualname(expr, scope)
        if q is not None and q.startswith("torch.") and not q.startswith("torch.device"):
            return False  # torch.float32 and friends
        name = last_name(expr)
        if name is None:
            return False
        if _DEVICE_NAME.search(name):
            return True
        if isinstance(expr, cst.Name):
            for binding in scope.lookup(expr.value):
                if isinstance(binding.value, cst.Call) and self.call_qualname(binding.value, binding.scope) == "torch.device":
                    return True
        return False

    def moves_to_device(self, call: cst.Call, scope: Scope) -> bool:
        """`.to(device)`, `.to(device=...)`, `.cuda()`: a move towards an accelerator."""
        func = call.func
        if not isinstance(func, cst.Attribute):
            return False
        if func.attr.value == "cuda":
            return True
        if func.attr.value != "to":
            return False
        for arg in call.args:
            if arg.star:
                return False
            if arg.keyword is not None:
                if arg.keyword.value == "device":
                    return self.value(arg.value, scope) != "cpu"
                continue
            if self.is_device_expr(arg.value, scope):
                return self.value(arg.value, scope) not in ("cpu", "meta")
            return False
        return False

    # -- what a name holds -------------------------------------------------

    def kind_of(self, expr: cst.BaseExpression, scope: Scope, depth: int = 0) -> str | None:
        """"module", "tensor", "loader", "lightning" (a LightningModule), or None."""
        if depth > 12:
            return None
        if isinstance(expr, cst.Call):
            return self._call_kind(expr, scope, depth)
        if isinstance(expr, cst.Name):
            return self._bindings_kind(scope.lookup(expr.value), depth)
        if isinstance(expr, cst.Attribute):
            owner = self.self_attribute_class(expr, scope)
            if owner is not None:
                return self._bindings_kind(owner.scope.self_attrs.get(expr.attr.value, []), depth)
            return None
        if isinstance(expr, cst.BinaryOperation):
            if isinstance(expr.operator, (cst.MatrixMultiply, cst.Add, cst.Subtract, cst.Multiply, cst.Divide)):
                left = self.kind_of(expr.left, scope, depth + 1)
                right = self.kind_of(expr.right, scope, depth + 1)
                if "tensor" in (left, right) and {left, right} <= {"tensor", None}:
                    return "tensor"  # tensor arithmetic gives a tensor
            return None
        if isinstance(expr, cst.Subscript):
            if self.kind_of(expr.value, scope, depth + 1) == "tensor":
                return "tensor"
            return None
        return None

    def self_attribute_class(self, expr: cst.Attribute, scope: Scope) -> ClassInfo | None:
        if not (isinstance(expr.value, cst.Name) and expr.value.value == "self"):
            return None
        function_scope = scope.function
        if function_scope is None:
            return None
        info = self.model.function_of_node.get(id(function_scope.node))
        return info.owner if info is not None else None

    def _bindings_kind(self, bindings: list[Binding], depth: int) -> str | None:
        if not bindings:
            return None
        kinds = set()
        for binding in bindings:
            if binding.kind == "augassign":
                continue
            kind = self._binding_kind(binding, depth)
            if kind == "self":
                continue
            kinds.add(kind)
        if len(kinds) == 1:
            return kinds.pop()
        return None

    def _binding_kind(self, binding: Binding, depth: int) -> str | None:
        if binding.kind == "assign":
            value = binding.value
            if value is None:
                return None
            # `x = x.to(device)` keeps whatever x was: neutral for the agreement.
            if self._is_self_transform(binding.name, value):
                return "self"
            return self.kind_of(value, binding.scope, depth + 1)
        if binding.kind == "loop" and binding.source is not None:
            return self._loop_element_kind(binding.source, binding.path, binding.scope, depth)
        return None

    def _is_self_transform(self, name: str, value: cst.BaseExpression) -> bool:
        while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute):
            value = value.func.value
            if dotted_name(value) == name:
                return True
        return False

    def is_self_transform(self, binding: Binding) -> bool:
        """`x = x.to(device)`: a rebinding that keeps what `x` is."""
        return binding.kind == "assign" and binding.value is not None and self._is_self_transform(binding.name, binding.value)

    def _loop_element_kind(self, source, path, scope, depth) -> str | None:
        """Items of a DataLoader with the default collate are tensors (or containers of them)."""
        while isinstance(source, cst.Call):
            wrapper = last_name(source.func)
            if wrapper == "enumerate" and source.args:
                if not path or path[0] != 1:
                    return None
                source, path = source.args[0].value, path[1:]
            elif wrapper in ("tqdm", "iter", "trange") and source.args:
                source = source.args[0].value
            elif wrapper == "zip" and source.args and path and path[0] < len(source.args):
                source, path = source.args[path[0]].value, path[1:]
            else:
                break
        if self.kind_of(source, scope, depth + 1) == "loader" and self.loader_has_default_collate(source, scope):
            return "tensor"
        return None

    def loader_has_default_collate(self, source: cst.BaseExpression, scope: Scope) -> bool:
        call = self.loader_call(source, scope)
        if call is None:
            return False
        bound = self.bind_call(call[0], call[1], DATALOADER_PARAMS)
        return not bound.opaque and bound.get("collate_fn") is None

    def loader_call(self, expr: cst.BaseExpression, scope: Scope) -> tuple[cst.Call, Scope] | None:
        """The one DataLoader(...) call a name is bound to."""
        if isinstance(expr, cst.Call):
            return (expr, scope) if self.call_qualname(expr, scope) == DATALOADER else None
        if isinstance(expr, cst.Name):
            bindings = scope.lookup(expr.value)
        elif isinstance(expr, cst.Attribute) and (owner := self.self_attribute_class(expr, scope)) is not None:
            bindings = owner.scope.self_attrs.get(expr.attr.value, [])
        else:
            return None
        if len(bindings) != 1 or bindings[0].kind != "assign" or not isinstance(bindings[0].value, cst.Call):
            return None
        return self.loader_call(bindings[0].value, bindings[0].scope)

    def _call_kind(self, call: cst.Call, scope: Scope, depth: int) -> str | None:
        func = call.func
        q = self.call_qualname(call, scope)
        if q is not None:
            if q == DATALOADER:
                return "loader"
            head, _, last = q.rpartition(".")
            if head == "torch" and last in _TENSOR_FUNCTIONS:
                return "tensor"
            if q.startswith("torch.nn.") and last[:1].isupper() and not any(q.startswith(n) for n in _NOT_MODULES):
                return "module"
            if q in ("torch.compile",) and call.args:
                return self.kind_of(call.args[0].value, scope, depth + 1)
            if q.startswith("torchvision.models.") and last[:1].islower() and not last.startswith("get_"):
                return "module"
            if q == "timm.create_model":
                return "module"
            if last == "from_pretrained" and ("Model" in head.rpartition(".")[2] or "For" in head.rpartition(".")[2]):
                return "module"
            return None
        local = self.local_class(func, scope)
        if local is not None:
            if self.is_lightning_module_class(local):
                return "lightning"
            return "module" if self.is_nn_module_class(local) else None
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            receiver_kind = self.kind_of(func.value, scope, depth + 1)
            if receiver_kind == "tensor" and method in _TENSOR_METHODS:
                return "tensor"
            if receiver_kind in ("module", "lightning") and method in _MODULE_SELF_METHODS:
                return receiver_kind
        return None

    # -- bindings by value, aliases, moves -----------------------------------

    def has_parameters(self, binding: Binding) -> bool:
        """False for torch.nn losses and parameter-free layers (`nn.CrossEntropyLoss()`)."""
        value = binding.value
        while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and self.call_qualname(value, binding.scope) is None:
            value = value.func.value  # `nn.MSELoss().cuda()` -> `nn.MSELoss()`
        if not isinstance(value, cst.Call):
            return True
        q = self.call_qualname(value, binding.scope) or ""
        last = q.rpartition(".")[2]
        if q.startswith("torch.nn.") and (last.endswith("Loss") or last in _PARAMETER_FREE_LAYERS):
            return False
        return True

    @cached_property
    def discarded_calls(self) -> set[int]:
        """ids of calls used as statements: their results are thrown away."""
        return {id(statement.call) for statement in self.model.expr_statements}

    @cached_property
    def receiver_calls(self) -> dict[int, CallSite]:
        """id(Name node) -> the call `name.method(...)` it is the receiver of."""
        index: dict[int, CallSite] = {}
        for site in self.model.calls:
            func = site.node.func
            if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
                index[id(func.value)] = site
        return index

    @cached_property
    def binding_of_value(self) -> dict[int, Binding]:
        """id(assigned expression) -> its binding, for "what name does this call go into?"."""
        index: dict[int, Binding] = {}
        scopes = [self.model.module_scope]
        scopes += [f.scope for f in self.model.functions]
        scopes += [c.scope for c in self.model.classes]
        for scope in scopes:
            for group in list(scope.bindings.values()) + list(scope.self_attrs.values()):
                for binding in group:
                    if binding.value is not None and binding.kind == "assign":
                        index.setdefault(id(binding.value), binding)
        return index

    def bindings_for(self, expr: cst.BaseExpression, scope: Scope) -> list[Binding]:
        """The bindings a name or `self.attr` reads."""
        if isinstance(expr, cst.Name):
            return scope.lookup(expr.value)
        if isinstance(expr, cst.Attribute):
            owner = self.self_attribute_class(expr, scope)
            if owner is not None:
                return owner.scope.self_attrs.get(expr.attr.value, [])
        return []

    @cached_property
    def moved_names(self) -> set[str]:
        """Dotted names that are moved to a device somewhere in the file, or handed to
        something that places them (accelerate, FSDP with a device, a same-file helper
        that moves its argument)."""
        moved: set[str] = set()
        helper_params: dict[int, set[int]] = {}
        for function in self.model.functions:
            positions = set()
            names = [p.name.value for p in function.params]
            for site in function.calls:
                func = site.node.func
                # Lenient on purpose: `m.to(d)` on a parameter may well be a move.
                if isinstance(func, cst.Attribute) and func.attr.value in ("to", "cuda", "to_empty"):
                    root = _root_name(func.value)
                    if root in names:
                        positions.add(names.index(root))
            if positions:
                helper_params[id(function.node)] = positions
        for site in self.model.calls:
            func = site.node.func
            call = site.node
            if isinstance(func, cst.Attribute) and (
                self.moves_to_device(call, site.scope) or func.attr.value == "to_empty"
            ):
                if dotted_name(func.value):
                    # `net = model; net.to(device)` moves `model` too
                    moved |= self.alias_group(func.value, site.scope)
                # `model = Net().to(device)`, `self.net = Net().cuda()`, `Net().to(device).double()`
                outermost = call
                while id(outermost) in self.model.method_call_on:
                    outermost = self.model.method_call_on[id(outermost)]
                binding = self.binding_of_value.get(id(outermost))
                if binding is not None:
                    moved.add(binding.name)
            q = self.call_qualname(site) or ""
            has_device_kw = any(
                a.keyword is not None and a.keyword.value in ("device", "device_map", "device_id", "device_mesh")
                for a in call.args
            )
            if has_device_kw:
                binding = self.binding_of_value.get(id(call))
                if binding is not None:
                    moved.add(binding.name)
                for arg in call.args:
                    if arg.keyword is None and (spelled := dotted_name(arg.value)):
                        moved.add(spelled)
            if q.startswith("accelerate.") or (isinstance(func, cst.Attribute) and func.attr.value in ("prepare", "prepare_model")):
                for arg in call.args:
                    if (spelled := dotted_name(arg.value)):
                        moved.add(spelled)
            callee = self.local_function(func, site.scope, site.classes)
            if callee is not None and id(callee.node) in helper_params:
                offset = 1 if callee.owner is not None and isinstance(func, cst.Attribute) else 0
                for index, arg in enumerate(call.args):
                    if arg.keyword is None and index + offset in helper_params[id(callee.node)]:
                        if (spelled := dotted_name(arg.value)):
                            moved.add(spelled)
        return moved

    def alias_group(self, expr: cst.BaseExpression, scope: Scope, depth: int = 0) -> set[str]:
        """`model` plus the names it was built from: `model = DDP(net)`, `model = torch.compile(net)`."""
        names: set[str] = set()
        spelled = dotted_name(expr)
        if spelled:
            names.add(spelled)
        if depth > 6:
            return names
        for binding in self.bindings_for(expr, scope):
            value = binding.value
            if binding.kind != "assign" or value is None:
                continue
            while isinstance(value, cst.Call):
                for arg in value.args:
                    if arg.keyword is None and isinstance(arg.value, (cst.Name, cst.Attribute)):
                        if self.kind_of(arg.value, binding.scope) in ("module", "lightning"):
                            names |= self.alias_group(arg.value, binding.scope, depth + 1)
                        break
                func = value.func
                # `net.to(device)`, `net.train()` return `net` itself; `nn.Linear(...)` does not.
                is_self_method = isinstance(func, cst.Attribute) and func.attr.value in _MODULE_SELF_METHODS
                value = func.value if is_self_method else None
            if isinstance(value, (cst.Name, cst.Attribute)) and dotted_name(value) not in names:
                names |= self.alias_group(value, binding.scope, depth + 1)
        return names




    # -- training data -------------------------------------------------------

    @cached_property
    def accumulates_gradients(self) -> bool:
        """Gradient accumulation anywhere in the file: small micro-batches are then deliberate."""
        return "accum" in self.source.lower()

    @cached_property
    def batches_go_to_device(self) -> bool:
        """Some loop moves what it iterates over to the device (or a framework does)."""
        if self.lightning_trainers or self.hf_trainers or self.uses_accelerate:
            return True
        for site in self.model.calls:
            func = site.node.func
            if not isinstance(func, cst.Attribute) or not self.moves_to_device(site.node, site.scope):
                continue
            root = _root_name(func.value)
            if root is not None and self._comes_from_loop(root, site.scope, 3):
                return True
        return False

    def _comes_from_loop(self, name: str, scope: Scope, depth: int) -> bool:
        """Is `name` a loop variable, or computed from one (`x = Variable(batch[0])`)?"""
        for binding in scope.lookup(name):
            if binding.kind == "loop":
                return True
            if depth and binding.kind == "assign" and binding.value is not None and not self.is_self_transform(binding):
                value = binding.value
                sources = [value] + (list(a.value for a in value.args) if isinstance(value, cst.Call) else [])
                for source in sources:
                    root = _root_name(source)
                    if root is not None and root != name and self._comes_from_loop(root, binding.scope, depth - 1):
                        return True
        return False

    def device_name_in_scope(self, scope: Scope) -> str | None:
        for candidate in ("device", "dev"):
            if scope.lookup(candidate):
                return candidate
        return None

    def is_training_loader(self, site: CallSite) -> bool:
        """Is this DataLoader iterated by a training loop (or handed to a trainer to train on)?"""
        function = site.function
        if function is not None and function.name == "train_dataloader":
            return True
        self.training_loops  # marks loop.trains
        binding = self.binding_of_value.get(id(site.node))
        for loop in self.model.loops:
            if not loop.trains or not isinstance(loop.node, cst.For):
                continue
            iterated = _iterated_expr(loop.node.iter)
            if iterated is site.node:
                return True
            if binding is not None and iterated is not None and dotted_name(iterated) == binding.name:
                if self.bindings_for(iterated, loop.scope) and binding in self.bindings_for(iterated, loop.scope):
                    return True
        if binding is None:
            return False
        for other in self.model.calls:
            for index, arg in enumerate(other.node.args):
                if dotted_name(arg.value) != binding.name or binding not in self.bindings_for(arg.value, other.scope):
                    continue
                func = other.node.func
                if isinstance(func, cst.Attribute) and func.attr.value == "fit":
                    keyword = arg.keyword.value if arg.keyword is not None else None
                    if keyword in ("train_dataloaders", "train_dataloader") or (keyword is None and index == 1):
                        return True
                    continue
                callee = self.local_function(func, other.scope, other.classes)
                if callee is not None and self._parameter_trained_on(callee, arg, index, func):
                    return True
        return False

    def _parameter_trained_on(self, callee: FunctionInfo, arg: cst.Arg, index: int, func) -> bool:
        names = [p.name.value for p in callee.params]
        if arg.keyword is not None:
            name = arg.keyword.value
        else:
            offset = 1 if callee.owner is not None and isinstance(func, cst.Attribute) else 0
            if index + offset >= len(names):
                return False
            name = names[index + offset]
        for loop in self.model.loops:
            if loop.function is callee and loop.trains and isinstance(loop.node, cst.For):
                iterated = _iterated_expr(loop.node.iter)
                if isinstance(iterated, cst.Name) and iterated.value == name:
                    return True
        return False


def _iterated_expr(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """`enumerate(tqdm(loader))` -> `loader`."""
    for _ in range(4):
        if isinstance(expr, cst.Call) and last_name(expr.func) in ("enumerate", "tqdm", "iter", "zip") and expr.args:
            expr = expr.args[0].value
        else:
            break
    return expr


def _root_name(expr: cst.BaseExpression) -> str | None:
    while isinstance(expr, (cst.Attribute, cst.Subscript, cst.Call)):
        expr = expr.value if not isinstance(expr, cst.Call) else expr.func
    return expr.value if isinstance(expr, cst.Name) else None
