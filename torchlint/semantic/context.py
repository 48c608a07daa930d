"""The semantic model of a project, and the view of one module that rules get."""

from __future__ import annotations

from typing import Callable, Iterator

from torchlint.fixes import SourceView
from torchlint.project.index import Project
from torchlint.project.summary import Binding, Call, ModuleSummary
from torchlint.semantic import api, expr, grad
from torchlint.semantic.loaders import class_traits, loader_traits
from torchlint.semantic.evaluate import BoundArgs, Evaluator
from torchlint.semantic.flow import derived
from torchlint.semantic.grad import OFF as GRAD_OFF
from torchlint.semantic.training import DATA, EPOCH, STEP, Consumer, Frequency, Training
from torchlint.semantic.values import UNKNOWN, External


class Semantics:
    """Everything known about a project: values (the evaluator) and training structure."""

    def __init__(self, project: Project, pinned_torch=None) -> None:
        self.project = project
        self.ev = Evaluator(project)
        self.training = Training(self.ev)
        # The project's torch pins (project.torch_target.TorchTarget), read by the runner.
        self.pinned_torch = pinned_torch


class ModuleContext:
    def __init__(self, semantics: Semantics, relpath: str, options, source: Callable[[], str]) -> None:
        # The model itself is private: rules ask through the methods below.
        self._semantics = semantics
        self.relpath = relpath
        self.options = options
        self._ev = semantics.ev
        self._training = semantics.training
        self._source = source
        self._view: SourceView | None = None

    @property
    def torch_target(self):
        """The torch release the project targets: the `target-torch` setting, else its pins,
        else a current torch."""
        from torchlint.project.torch_target import TorchTarget, from_setting

        setting = getattr(self.options, "target_torch", None)
        if setting:
            return from_setting(setting)
        return self._semantics.pinned_torch or TorchTarget()

    @property
    def is_test(self) -> bool:
        """A test module (`tests/`, `test_*.py`, `*_test.py`, `conftest.py`): its training
        loops check behaviour, not throughput, so the performance rules leave it alone."""
        return is_test_path(self.relpath)

    @property
    def summary(self) -> ModuleSummary:
        return self._semantics.project.summary(self.relpath)

    @property
    def source(self) -> SourceView:
        if self._view is None:
            self._view = SourceView(self._source())
        return self._view

    # -- this module's code ---------------------------------------------------------------

    def calls(self) -> Iterator[tuple[str, int, Call]]:
        for qualname, function in self.summary.functions.items():
            for index, call in enumerate(function.calls):
                yield qualname, index, call

    def function(self, qualname: str, module: str | None = None):
        """The summary of a function of this module, or of `module`'s (None if unknown)."""
        if module is None:
            return self.summary.functions[qualname]
        return self._ev.function(module, qualname)

    def enclosing_functions(self, qualname: str) -> Iterator:
        """The function and the functions it is nested in, innermost first."""
        function = self.function(qualname)
        while function is not None:
            yield function
            function = self.summary.functions.get(function.parent) if function.parent else None

    def site(self, call: Call) -> tuple:
        return (self.relpath, call.span.line, call.span.col)

    # -- the project ------------------------------------------------------------------------

    def project_modules(self) -> list:
        return list(self._semantics.project.modules())

    def module_summary(self, module: str) -> ModuleSummary | None:
        return self._semantics.project.summary(module)

    def project_functions(self) -> Iterator[tuple[str, ModuleSummary, str, object]]:
        """(module, summary, qualname, function) over the whole project."""
        return self._semantics.project.functions()

    def project_calls(self) -> Iterator[tuple[str, str, Call]]:
        """(module, qualname, call) over the whole project."""
        for module, _, qualname, function in self.project_functions():
            for call in function.calls:
                yield module, qualname, call

    def call_at(self, site) -> tuple[str, Call] | None:
        """(qualname, call) of the call at a site (module, line, col)."""
        return self._semantics.project.call_at(*site) if site else None

    def project_fact(self, compute: Callable, default, key=None, arguments: tuple | None = None):
        """`compute(self, *arguments)` once per project and `key` (arguments: the key's
        items): facts that rules derive from the whole project (is precision decided? does
        this class convolve?), shared by every module. A fact met again while it is being
        computed (a cycle) reads `default`."""
        if arguments is None:
            arguments = key if isinstance(key, tuple) else () if key is None else (key,)
        return self._ev.memo(compute, key, lambda: compute(self, *arguments), default)

    def module_fact(self, compute: Callable, default):
        """`compute(self)` once per module, shared by the rules that ask."""
        return self._ev.memo(compute, self.relpath, lambda: compute(self), default)

    # -- values -----------------------------------------------------------------------------

    def values(self, expr, qualname: str, module: str | None = None) -> frozenset:
        """The abstract values an expression of a function may have."""
        return self._ev.eval(expr, (module or self.relpath, qualname))

    def binding_values(self, qualname: str, name: str, binding) -> frozenset:
        return self._ev.binding_value(self.relpath, qualname, name, binding)

    def defining_function(self, qualname: str, name: str) -> str | None:
        """The function (this one or one it is nested in) whose scope binds `name`."""
        return self._ev.defining_function(self.relpath, qualname, name)

    def targets(self, qualname: str, call: Call, module: str | None = None) -> list:
        """What a call may call: [(value, offset)], project functions, classes and library names."""
        return self._ev.targets(call, (module or self.relpath, qualname))

    def callee(self, qualname: str, call: Call) -> str | None:
        """The canonical name of the library function or class a call calls, when every
        way of reading it agrees (`DL(...)` after `from torch.utils.data import DataLoader
        as DL`); None for project code, unknown or ambiguous callees."""
        names = set()
        for target, _ in self._ev.targets(call, (self.relpath, qualname)):
            if isinstance(target, External):
                names.add(target.qualname)
            else:
                return None
        return names.pop() if len(names) == 1 else None

    def bind(self, qualname: str, call: Call, params: tuple) -> BoundArgs:
        return self._ev.bind(call, (self.relpath, qualname), params)

    def callers(self, qualname: str, module: str | None = None) -> list:
        """[(module, qualname, call index, call)] of the project's calls of a function."""
        return self._ev.callers(module or self.relpath, qualname)

    def derived_from(self, qualname: str, sources: set[int]) -> tuple[set[int], set[str]]:
        """(call indexes, local names) of a function whose tensors are computed from the
        calls in `sources`, through tensor operations only."""
        return derived(self._ev, self.relpath, qualname, sources)

    # -- classes ----------------------------------------------------------------------------

    def class_summary(self, qualname: str, module: str | None = None):
        return self._ev.class_summary(module or self.relpath, qualname)

    def class_chain(self, qualname: str, module: str | None = None) -> list:
        """(module, qualname) of a class and its project base classes, in lookup order."""
        return self._ev.class_chain(module or self.relpath, qualname)[0]

    def library_bases(self, qualname: str, module: str | None = None) -> frozenset:
        """The canonical names of the library classes a project class derives from."""
        return self._ev.externals_of(module or self.relpath, qualname)

    def is_nn_module_class(self, qualname: str, module: str | None = None) -> bool:
        return self._ev.is_nn_module_class(module or self.relpath, qualname)

    def find_method(self, class_qualname: str, name: str, module: str | None = None):
        """The `Function` value of a method, looked up through the class's bases."""
        return self._ev.find_method(module or self.relpath, class_qualname, name)

    def dataset_traits(self, qualname: str, module: str | None = None) -> frozenset:
        return class_traits(self._ev, module or self.relpath, qualname)

    # -- devices ----------------------------------------------------------------------------

    def move_target(self, qualname: str, call: Call, module: str | None = None) -> str | None:
        """Where a move sends a tensor or model: "cuda", "accel", "cpu", "meta" or None
        (unknown) for `.to(...)`, `.cuda()` and `.type(torch.cuda.X)`; None for any other call."""
        method = expr.method(call)
        frame = (module or self.relpath, qualname)
        if method == "cuda":
            return "cuda"
        if method == "type":
            return self._ev.tensor_type_device(call, frame)
        if method == "to":
            return self._ev.move_device(call, frame)
        return None

    def is_accelerator_move(self, qualname: str, call: Call, module: str | None = None) -> bool:
        """`.to(device)` with a device that is not the CPU (or meta), `.cuda()`, `.type(torch.cuda.X)`."""
        return self.move_target(qualname, call, module) not in (None, "cpu", "meta")

    def device_kind(self, values: frozenset, strict: bool = False) -> str | None:
        """The device kind the values name ("cuda", "accel", "cpu", ...), None if unknown."""
        return self._ev.device_kind(values, strict=strict)

    def spelled_like_device(self, expr_) -> bool:
        """`device`, `args.device`, `self.device`: named like a device."""
        return self._ev.spelled_like_device(expr_)

    # -- loaders ----------------------------------------------------------------------------

    def loader_class(self, site) -> str | None:
        """The loader class a call at `site` builds (torch's DataLoader, a subclass, a wrapper)."""
        return self._ev.loader_class(site)

    def loader_arguments(self, site) -> BoundArgs | None:
        return self._ev.loader_arguments(site)

    def loader_consumers(self, site) -> list:
        """Where the batches of the loader built at `site` are used (`Consumer`s)."""
        return self._training.consumers(site)

    def loader_traits(self, site) -> frozenset:
        return loader_traits(self._training, site)

    # -- training ---------------------------------------------------------------------------

    def frequency(self, qualname: str, call: Call) -> Frequency:
        """How often a call runs: per training step, per batch of another data loop
        (evaluation), every k steps, per epoch, or once."""
        return self._training.frequency(self.relpath, qualname, call)

    def is_conditional(self, qualname: str, call: Call) -> bool:
        """Is the call under any `if`/`else`/`except` inside the step: between it and the
        training or evaluation loop around it (or anywhere in a function run per step)?"""
        if call.branch:
            return True
        function = self.function(qualname)
        roles = self.loop_roles(qualname)
        hot = [position for position, loop in enumerate(call.loops) if roles.get(loop)]
        inner = call.loops[hot[-1] + 1 :] if hot else call.loops
        return any(function.loops[loop].branch for loop in inner)

    def runs_per_step(self, qualname: str) -> bool:
        """Does the whole function run per step (or per batch): called from a step or data
        loop, a framework's per-step hook, `forward()` of a model trained per step?"""
        return (self.relpath, qualname) in self._training.per_step_functions()

    def runs_per_training_step(self, qualname: str, call) -> bool:
        """Does this call (or `if`/`assert` use) run once per training step or more often,
        not gated? (Evaluation loops do not count.)"""
        return self._training.runs_per_training_step(self.relpath, qualname, call)

    def loop_roles(self, qualname: str, module: str | None = None) -> dict:
        """{loop index: STEP | EPOCH | DATA} for the loops of a function that have a role."""
        return self._training.loop_roles(module or self.relpath, qualname)

    def is_step_call(self, qualname: str, call: Call) -> bool:
        """`loss.backward()`, `optimizer.step()` and their framework spellings, or a call of a
        function that performs a step."""
        return self._training.is_step_call(self.relpath, qualname, call)

    def on_training_path(self, qualname: str, module: str | None = None) -> bool:
        """Is the function part of a program that trains (it trains, or leads to training)?"""
        return self._training.in_training_program(module or self.relpath, qualname)

    def trains(self, qualname: str, module: str | None = None) -> bool:
        """Does the function run a training loop, or perform a training step itself?"""
        module = module or self.relpath
        return self._training.trains_in_loop(module, qualname) or self._training.trains_once(module, qualname)

    def module_trains(self, module: str | None = None) -> bool:
        """Does some function of the module train (a loop, or a framework's fit/run)?"""
        return self._training.module_trains(module or self.relpath)

    def callees(self, qualname: str, call: Call, module: str | None = None) -> list:
        """The project functions a call may run (`Function` values)."""
        return self._training.callees(module or self.relpath, qualname, call)

    def called_in_a_loop(self, qualname: str, module: str | None = None) -> bool:
        return self._training.called_in_a_loop(module or self.relpath, qualname)

    def accelerator_evidence(self, qualname: str) -> str | None:
        """"cuda", "accel" or None: does the training code around this function use an
        accelerator (the evidence for its hot loops)?"""
        return self._training.hot_evidence(self.relpath, qualname)

    def models_trained_here(self) -> list:
        """[(model value, qualname, evidence)] for the models this module trains."""
        return self._training.models_trained_in(self.relpath)

    def trained_models_built_here(self) -> list:
        """[(site, (model value, training contexts))] for the models built in this module
        and trained somewhere in the project; a context is (module, qualname, evidence)."""
        return self._training.trained_models_built_in(self.relpath)

    def placed_model_sites(self) -> dict:
        """The sites of the models that some code moves to a device."""
        return self._training.placed_models()

    def built_in_lightning_module(self, site) -> bool:
        """Is the model built inside a LightningModule (which Lightning places)?"""
        return self._training.built_in_lightning_module(site)

    def has_parameters(self, value) -> bool:
        return self._training.has_parameters(value)

    # -- autograd ---------------------------------------------------------------------------

    def grad_enabled(self, qualname: str, call: Call) -> bool:
        """Does the call run with grad enabled (no `no_grad` around it, in it or its callers)?"""
        return grad.grad_enabled(self._ev, self.relpath, qualname, call)

    def function_grad_mode(self, qualname: str, module: str | None = None) -> str | None:
        """GRAD_OFF, GRAD_ON, ... when a decorator sets the grad mode for the whole function."""
        return grad.function_mode(self._ev, module or self.relpath, qualname)

    def with_turns_grad_off(self, qualname: str, module: str | None = None) -> bool:
        """Does a `with` in the function turn grad off (`with torch.no_grad():`)?"""
        function = self.function(qualname, module)
        frame = (module or self.relpath, qualname)
        return any(grad.context_mode(self._ev, context, frame) == GRAD_OFF for with_ in function.withs for context in with_.contexts)

    # -- the result of a call ---------------------------------------------------------------

    def binding_of_call(self, qualname: str, index: int) -> tuple[str, Binding] | None:
        """The name a call's result is assigned to in its function: `x = f(...)`, also
        through method chains and wrappers (`x = f(...).to(d)`, `x = DDP(f(...))`), and
        `self.x = f(...)` in a method."""
        function = self.function(qualname)
        wanted = {index}
        changed = True
        while changed:
            changed = False
            for position, call in enumerate(function.calls):
                if position in wanted:
                    continue
                chained = expr.chained_on(call, wanted) is not None
                wrapped = (
                    expr.first_argument_result(call) in wanted
                    and self.callee(qualname, call) in api.MODULE_WRAPPERS | api.PASS_THROUGH
                )
                if chained or wrapped:
                    wanted.add(position)
                    changed = True
        for name, bindings in function.bindings.items():
            for binding in bindings:
                if binding.kind == "assign" and expr.result_of(binding.value) in wanted:
                    return name, binding
        if function.owner is not None:
            info = self.summary.classes.get(function.owner)
            for attr, entries in (info.self_attrs.items() if info is not None else ()):
                for method, binding in entries:
                    if method == qualname and expr.result_of(binding.value) in wanted:
                        return f"self.{attr}", binding
        return None


def is_test_path(relpath: str) -> bool:
    parts = relpath.split("/")
    name = parts[-1]
    return (
        any(part in ("test", "tests", "testing") for part in parts[:-1])
        or name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
    )


expr_text = expr.source_text


__all__ = ["DATA", "EPOCH", "STEP", "BoundArgs", "Consumer", "Frequency", "ModuleContext", "Semantics", "UNKNOWN", "expr_text"]
