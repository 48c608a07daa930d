"""TL203 discarded-device-move."""

import pytest

PRELUDE = """
import torch
from torch.utils.data import DataLoader
device = torch.device("cuda")
model = torch.nn.Linear(4, 2)
loader = DataLoader(ds, batch_size=64)
"""


def findings(lint, body):
    return [code for _, code in lint(PRELUDE + body, codes={"TL203"})]


@pytest.mark.parametrize(
    "body",
    [
        "x = torch.zeros(3)\nx.to(device)",
        "x = torch.randn(3)\nx.cuda()",
        "for x, y in loader:\n    x.to(device)",
        "for i, (x, y) in enumerate(loader):\n    y.cuda()",
        "for batch in loader:\n    batch['input'].to(device)",
        "x = torch.zeros(3) * 2\nx.to(device)",
        "x = torch.zeros(3)\nx = x.float()\nx.cuda()",
    ],
)
def test_flags_discarded_moves_of_tensors(lint, body):
    assert findings(lint, body) == ["TL203"]


@pytest.mark.parametrize(
    "body",
    [
        "model.to(device)",
        "model.cuda()",
        "net = torch.nn.Sequential(torch.nn.Linear(2, 2))\nnet.to(device)",
        "x = torch.zeros(3)\nx = x.to(device)",
        "batch = tokenizer(text, return_tensors='pt')\nbatch.to(device)",  # BatchEncoding moves in place
        "def f(x):\n    x.to(device)",  # a parameter: not provably a tensor
        "custom = DataLoader(ds, collate_fn=my_collate)\nfor b in custom:\n    b.to(device)",
        "data.to(device)",
        "x = torch.zeros(3)\nx = model\nx.to(device)",
    ],
)
def test_silent_for_modules_and_unknown_receivers(lint, body):
    assert findings(lint, body) == []


def test_batches_of_a_loader_passed_in_as_a_parameter_are_tensors(lint):
    source = """
import torch
from torch.utils.data import DataLoader

def train(model, loader):
    for images, labels in loader:
        images.cuda()
        model(images)

train(torch.nn.Linear(4, 2), DataLoader(ds, batch_size=8))
"""
    assert lint(source, codes={"TL203"}) == {(7, "TL203")}
