"""TL103 small-batch-size."""

import pytest

SCRIPT = """
import torch
from torch.utils.data import DataLoader
{setup}
train_loader = {loader}
model = torch.nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in train_loader:
    loss = model(x).sum()
    loss.backward()
    optimizer.step()
"""


def findings(lint, loader, setup="", script=SCRIPT):
    return {code for _, code in lint(script.format(setup=setup, loader=loader), codes={"TL103"})}


@pytest.mark.parametrize(
    "setup, loader",
    [
        ("", "DataLoader(ds)"),
        ("", "DataLoader(ds, 4)"),
        ("", "DataLoader(ds, batch_size=8, shuffle=True)"),
        ("BATCH = 2", "DataLoader(ds, batch_size=BATCH)"),
        ("import argparse\nparser = argparse.ArgumentParser()\nparser.add_argument('--batch-size', type=int, default=4)\nargs = parser.parse_args()",
         "DataLoader(ds, batch_size=args.batch_size)"),
    ],
)
def test_flags_small_training_batches(lint, setup, loader):
    assert findings(lint, loader, setup) == {"TL103"}


@pytest.mark.parametrize(
    "setup, loader",
    [
        ("", "DataLoader(ds, batch_size=16)"),
        ("", "DataLoader(ds, batch_size=None)"),
        ("", "DataLoader(ds, batch_sampler=sampler)"),
        ("", "DataLoader(ds, batch_size=bs)"),
        ("", "DataLoader(ds, **kw)"),
        ("accumulation_steps = 8", "DataLoader(ds, batch_size=4)"),
    ],
)
def test_silent_for_large_unknown_prebatched_or_accumulated(lint, setup, loader):
    assert findings(lint, loader, setup) == set()


def test_threshold_is_configurable(lint):
    from torchlint.engine import build_rules, lint_source
    from torchlint.settings import RuleOptions

    source = SCRIPT.format(setup="", loader="DataLoader(ds, batch_size=24)")
    assert lint_source(source, "t.py", build_rules({"TL103"}, RuleOptions())) == []
    found = lint_source(source, "t.py", build_rules({"TL103"}, RuleOptions(small_batch_threshold=32)))
    assert [d.code for d in found] == ["TL103"]


def test_silent_for_loaders_only_used_for_evaluation_or_sampling(lint):
    source = """
import torch
from torch.utils.data import DataLoader
train_loader = DataLoader(train_ds, batch_size=64)
val_loader = DataLoader(val_ds, batch_size=1)
vis_loader = DataLoader(vis_ds, batch_size=4)
model = torch.nn.Linear(4, 2)
optimizer = torch.optim.Adam(model.parameters())
for epoch in range(3):
    for x, y in train_loader:
        model(x).sum().backward()
        optimizer.step()
    with torch.no_grad():
        for x, y in val_loader:
            print(model(x))
images = next(iter(vis_loader))
"""
    assert lint(source, codes={"TL103"}) == set()


def test_follows_the_loader_into_a_training_function(lint):
    source = """
import torch
from torch.utils.data import DataLoader

def train_epoch(model, loader, optimizer):
    for x, y in loader:
        loss = model(x).sum()
        loss.backward()
        optimizer.step()

def evaluate(model, loader):
    for x, y in loader:
        model(x)

def main():
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train = DataLoader(ds, batch_size=2)
    test = DataLoader(ds, batch_size=2)
    train_epoch(model, train, optimizer)
    evaluate(model, test)
"""
    assert lint(source, codes={"TL103"}) == {(18, "TL103")}


def test_lightning_train_dataloader_and_fit(lint):
    source = """
import lightning as L
from torch.utils.data import DataLoader

class Model(L.LightningModule):
    def train_dataloader(self):
        return DataLoader(self.ds, batch_size=4)

    def val_dataloader(self):
        return DataLoader(self.val, batch_size=4)

loader = DataLoader(ds, batch_size=2)
trainer = L.Trainer()
trainer.fit(Model(), loader)
"""
    assert lint(source, codes={"TL103"}) == {(7, "TL103"), (12, "TL103")}
