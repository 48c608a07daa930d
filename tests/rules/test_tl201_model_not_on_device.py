"""TL201 model-not-on-device."""

import pytest

SCRIPT = """
import torch
import torch.nn as nn
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)

model = {build}
{between}
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
criterion = nn.CrossEntropyLoss()
for x, y in loader:
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
"""


def findings(lint, build="Net()", between="", script=SCRIPT):
    return lint(script.format(build=build, between=between), codes={"TL201"})


@pytest.mark.parametrize("build", ["Net()", "nn.Sequential(nn.Linear(4, 2), nn.ReLU())", "nn.Linear(4, 2)"])
def test_flags_a_model_never_moved(lint, build):
    assert findings(lint, build) == {(14, "TL201")}


@pytest.mark.parametrize(
    "build, between",
    [
        ("Net().to(device)", ""),
        ("Net().cuda()", ""),
        ("Net()", "model.to(device)"),
        ("Net()", "model = model.to(device)"),
        ("Net()", "model.cuda()"),
        ("Net()", "net = model\nnet.to(device)"),
        ("Net()", "def place(m, d):\n    return m.to(d)\nplace(model, device)"),
        ("nn.Linear(4, 2, device=device)", ""),
        ("Net()", "model = torch.nn.parallel.DistributedDataParallel(model.to(device))"),
        ("Net()", "model.to_empty(device=device)"),
    ],
)
def test_silent_once_the_model_is_moved(lint, build, between):
    assert findings(lint, build, between) == set()


def test_silent_on_cpu_only_code(lint):
    script = SCRIPT.replace('torch.device("cuda" if torch.cuda.is_available() else "cpu")', '"cpu"')
    assert findings(lint, script=script) == set()


def test_silent_for_accelerate_and_hf_trainer(lint):
    accelerate = SCRIPT.replace(
        "optimizer = torch", "from accelerate import Accelerator\naccelerator = Accelerator()\noptimizer = torch"
    ).replace("criterion = nn", "model, optimizer = accelerator.prepare(model, optimizer)\ncriterion = nn")
    assert findings(lint, script=accelerate) == set()
    hf = SCRIPT + "\nfrom transformers import Trainer\nTrainer(model=model).train()\n"
    assert findings(lint, script=hf) == set()


def test_silent_for_from_pretrained_with_device_map(lint):
    script = SCRIPT.replace("model = {build}", "from transformers import AutoModelForCausalLM\nmodel = AutoModelForCausalLM.from_pretrained('gpt2', device_map='auto')")
    assert findings(lint, script=script) == set()


def test_losses_and_unknown_models_are_not_reported(lint):
    source = """
import torch
import torch.nn as nn
from mylib import build_model
device = "cuda"
model = build_model()
criterion = nn.MSELoss()
for x, y in loader:
    criterion(model(x), y).backward()
"""
    assert lint(source, codes={"TL201"}) == set()


def test_class_based_trainer(lint):
    source = """
import torch
import torch.nn as nn

class Trainer:
    def __init__(self):
        self.device = torch.device("cuda")
        self.model = nn.Linear(4, 2)
        self.opt = torch.optim.Adam(self.model.parameters())

    def fit(self, loader):
        for x, y in loader:
            x = x.to(self.device)
            self.model(x).sum().backward()
            self.opt.step()
"""
    assert lint(source, codes={"TL201"}) == {(8, "TL201")}
    moved = source.replace("self.model = nn.Linear(4, 2)", "self.model = nn.Linear(4, 2).to(self.device)")
    assert lint(moved, codes={"TL201"}) == set()


def test_silent_in_functions_that_set_up_no_accelerator(lint):
    source = """
import torch
import torch.nn as nn

def gpu_smoke_test():
    return torch.ones(1).cuda()

def cpu_unit_test():
    model = nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        model(torch.ones(4)).sum().backward()
        opt.step()
"""
    assert lint(source, codes={"TL201"}) == set()


def test_a_move_inside_a_method_chain_counts(lint):
    assert findings(lint, "Net().to(device).double()") == set()


def test_a_move_of_another_model_in_another_function_does_not_count(lint):
    """The set of moved names used to be file-wide: `model.to(device)` in `evaluate()`
    silenced the unmoved `model` of `train()`. Facts now attach to the object built."""
    source = """
import torch
import torch.nn as nn
device = torch.device("cuda")

def evaluate(loader):
    model = nn.Linear(4, 2)
    model.to(device)
    for x, y in loader:
        print(model(x.to(device)))

def train(loader):
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        loss = model(x.to(device)).sum()
        loss.backward()
        optimizer.step()
"""
    assert lint(source, codes={"TL201"}) == {(13, "TL201")}


def test_a_helper_that_moves_its_argument_counts_for_the_model_it_is_given(lint):
    source = """
import torch
import torch.nn as nn
device = torch.device("cuda")

def place(module):
    return module.to(device)

def train(loader):
    model = nn.Linear(4, 2)
    place(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        model(x.to(device)).sum().backward()
        optimizer.step()
"""
    assert lint(source, codes={"TL201"}) == set()


def test_silent_for_a_cpu_only_class_beside_a_cuda_class(lint):
    """One class of the file uses CUDA; another trains on the CPU on purpose (a gloo test)."""
    source = """
import torch
import torch.nn as nn

class CudaCheck:
    def run(self):
        return torch.ones(2).cuda()

class GlooWorker:
    def train(self, loader):
        model = nn.Linear(4, 2)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader:
            model(x).sum().backward()
            optimizer.step()
"""
    assert lint(source, codes={"TL201"}) == set()


def test_the_fix_waits_for_a_device_bound_on_every_path():
    """Inserting `model = model.to(device)` before `device` exists would raise NameError
    (UnboundLocalError in a function): then the fix is only a suggestion."""
    from textwrap import dedent

    from torchlint.engine import build_rules, lint_source
    from torchlint.settings import RuleOptions

    source = dedent("""
        import torch
        import torch.nn as nn

        def main(loader):
            model = nn.Linear(4, 2)
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for x, y in loader:
                model(x.to(device)).sum().backward()
                optimizer.step()
    """)
    [d] = lint_source(source, "t.py", build_rules({"TL201"}, RuleOptions()))
    assert d.fix["applicability"] == "display-only" and not d.fix["edits"]
    moved_first = source.replace("    model = nn.Linear(4, 2)\n    device = ", "    device = ").replace(
        "    optimizer =", "    model = nn.Linear(4, 2)\n    optimizer =")
    [d] = lint_source(moved_first, "t.py", build_rules({"TL201"}, RuleOptions()))
    assert d.fix["applicability"] == "safe"
    conditional = source.replace('    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")\n', "").replace(
        "def main(loader):\n", 'def main(loader):\n    if torch.cuda.is_available():\n        device = torch.device("cuda")\n')
    [d] = lint_source(conditional, "t.py", build_rules({"TL201"}, RuleOptions()))
    assert d.fix["applicability"] == "display-only"
