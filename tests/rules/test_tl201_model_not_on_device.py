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
