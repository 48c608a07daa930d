"""TL403 cudnn-benchmark-off."""

import pytest

SCRIPT = """
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
device = torch.device("cuda")
model = {model}.to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
{extra}
for epoch in range(10):
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""
CNN = "nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))"
LOOP = 11


def findings(lint, model=CNN, extra=""):
    return sorted(line for line, _ in lint(SCRIPT.format(model=model, extra=extra), codes={"TL403"}))


@pytest.mark.parametrize(
    "model, extra",
    [
        (CNN, ""),
        ("torchvision.models.resnet18()", ""),
        ("timm.create_model('resnet50d')", "import timm"),
        (CNN, "torch.backends.cudnn.benchmark = False"),  # off, without a reason given
    ],
)
def test_flags_convolutional_training_without_the_autotuner(lint, model, extra):
    assert findings(lint, model, extra) == [LOOP]


@pytest.mark.parametrize(
    "model, extra",
    [
        (CNN, "torch.backends.cudnn.benchmark = True"),
        (CNN, "from torch.backends import cudnn\ncudnn.benchmark = args.benchmark"),
        (CNN, "# bitwise reproducible runs for the paper\ntorch.backends.cudnn.benchmark = False"),
        ("nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))", ""),  # no convolutions
        ("nn.Sequential(nn.Conv1d(80, 64, 3), nn.ReLU())", ""),  # 1-d: sequences of varying length
        ("torchvision.models.detection.fasterrcnn_resnet50_fpn()", ""),  # images of varying size
        ("timm.create_model('vit_base_patch16_224')", "import timm"),
    ],
)
def test_silent_when_set_or_not_convolutional(lint, model, extra):
    assert findings(lint, model, extra) == []


def test_the_fix_sets_the_autotuner_before_the_epoch_loop():
    from torchlint.engine import build_rules
    from torchlint.fixes.apply import fix_source
    from torchlint.settings import RuleOptions

    source = SCRIPT.format(model=CNN, extra="")
    rules = build_rules({"TL403"}, RuleOptions())
    assert not fix_source(source, "t.py", rules).changed  # unsafe only
    fixed = fix_source(source, "t.py", rules, unsafe=True).source
    assert "\ntorch.backends.cudnn.benchmark = True\nfor epoch in range(10):\n" in fixed


def test_lightning_trainer_without_benchmark_in_a_convolutional_project(lint):
    source = """
import lightning as L
import torch.nn as nn

class Net(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

trainer = L.Trainer(max_epochs=10)
trainer.fit(Net(), loader)
"""
    assert lint(source, codes={"TL403"}) == {(10, "TL403")}
    assert lint(source.replace("max_epochs=10", "max_epochs=10, benchmark=True"), codes={"TL403"}) == set()
