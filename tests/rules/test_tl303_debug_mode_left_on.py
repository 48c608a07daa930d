"""TL303 debug-mode-left-on."""

import pytest

LOOP = """
model = torch.nn.Linear(4, 2).cuda()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for x in loader:
    model(x.cuda()).sum().backward()
    optimizer.step()
"""


def findings(lint, source, filename="train.py"):
    from conftest import actual_findings
    from textwrap import dedent

    return sorted(line for line, _ in actual_findings(dedent(source), filename=filename, codes={"TL303"}))


@pytest.mark.parametrize(
    "switch",
    ["torch.autograd.set_detect_anomaly(True)", "torch.autograd.set_detect_anomaly(mode=True)",
     "from torch.autograd import set_detect_anomaly\nset_detect_anomaly(True)"],
)
def test_flags_anomaly_detection_switched_on_in_a_training_script(lint, switch):
    source = "import torch\n" + switch + "\n" + LOOP
    assert findings(lint, source) == [source.splitlines().index(switch.splitlines()[-1]) + 1]


def test_flags_context_managers_around_the_training_loop(lint):
    source = """
    import torch

    def train(model, loader, optimizer):
        with torch.autograd.detect_anomaly():
            for x in loader:
                model(x.cuda()).sum().backward()
                optimizer.step()

    def train_again(model, loader, optimizer):
        with torch.autograd.profiler.profile(use_cuda=True):
            for x in loader:
                model(x.cuda()).sum().backward()
                optimizer.step()
    """
    assert findings(lint, source) == [5, 11]


@pytest.mark.parametrize("package", ["lightning as L", "pytorch_lightning as L"])
def test_flags_lightning_trainer_with_detect_anomaly(lint, package):
    # Both package names resolve to the trainers of the one list in semantic.api.
    source = f"""
    import {package}
    trainer = L.Trainer(accelerator="gpu", detect_anomaly=True)
    trainer.fit(model, loader)
    """
    assert findings(lint, source) == [3]


@pytest.mark.parametrize(
    "switch",
    [
        "torch.autograd.set_detect_anomaly(args.debug)",
        "torch.autograd.set_detect_anomaly(False)",
        "if args.debug:\n    torch.autograd.set_detect_anomaly(True)",
        "torch.autograd.set_detect_anomaly(os.environ.get('ANOMALY') == '1')",
    ],
)
def test_silent_behind_a_flag(lint, switch):
    assert findings(lint, "import os\nimport torch\n" + switch + "\n" + LOOP) == []


def test_silent_for_profilers_behind_a_flag_and_scripts_that_profile(lint):
    source = """
    import torch

    def train(model, loader, optimizer, args):
        with torch.autograd.profiler.profile(args.profile):
            for x in loader:
                model(x.cuda()).sum().backward()
                optimizer.step()
    """
    assert findings(lint, source) == []
    on = "import torch\ntorch.autograd.set_detect_anomaly(True)\n" + LOOP
    assert findings(lint, on, filename="profile_step.py") == []
    assert findings(lint, on, filename="debug_nan.py") == []


def test_silent_without_training(lint):
    assert findings(lint, "import torch\ntorch.autograd.set_detect_anomaly(True)\nprint(model(x))\n") == []


def test_a_setup_helper_called_by_the_training_script_counts(lint):
    source = """
    import torch

    def setup():
        torch.autograd.set_detect_anomaly(True)

    def main(model, loader, optimizer):
        setup()
        for x in loader:
            model(x.cuda()).sum().backward()
            optimizer.step()

    def maybe(model, loader, optimizer, debug):
        if debug:
            setup_debug()

    def setup_debug():
        torch.autograd.set_detect_anomaly(True)
    """
    assert findings(lint, source) == [5]
