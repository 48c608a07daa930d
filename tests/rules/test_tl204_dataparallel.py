"""TL204 dataparallel."""

import pytest

SCRIPT = """
import torch
import torch.nn as nn
import torch.nn.functional as F
device = torch.device("cuda")
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).to(device)
{wrap}
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(10):
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""


def findings(lint, wrap):
    return sorted(line for line, _ in lint(SCRIPT.format(wrap=wrap), codes={"TL204"}))


@pytest.mark.parametrize(
    "wrap",
    [
        "model = nn.DataParallel(model)",
        "model = torch.nn.DataParallel(model, device_ids=[0, 1])",
        "if torch.cuda.device_count() > 1:\n    model = nn.DataParallel(model)",
        "from torch.nn.parallel import DataParallel\nmodel = DataParallel(model)",
    ],
)
def test_flags_dataparallel_around_a_trained_model(lint, wrap):
    assert len(findings(lint, wrap)) == 1


@pytest.mark.parametrize(
    "wrap",
    [
        "model = nn.DataParallel(model, device_ids=[0])",  # one device
        "model = nn.DataParallel(model, device_ids=[args.gpu])",
        # a model wrapped to read a DataParallel checkpoint, never trained
        "def load(path):\n    net = nn.DataParallel(nn.Linear(4, 2))\n    net.load_state_dict(torch.load(path))\n    return net",
    ],
)
def test_silent_for_single_devices_and_checkpoint_loading(lint, wrap):
    assert findings(lint, wrap) == []


def test_an_evaluation_script_that_wraps_is_silent(lint):
    source = """
import torch
import torch.nn as nn
device = torch.device("cuda")
model = nn.DataParallel(nn.Linear(4, 2)).to(device)
model.load_state_dict(torch.load("model.pt"))
model.eval()
with torch.no_grad():
    for x, _ in loader:
        print(model(x.to(device)).argmax(1))
"""
    assert lint(source, codes={"TL204"}) == set()
