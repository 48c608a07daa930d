"""TL101 dataloader-no-workers: positives and the hard negatives it must stay silent on."""

import pytest

# A training loop on an accelerator; {loader} is replaced by the DataLoader line under test.
SCRIPT = """
import torch
{imports}
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
{setup}
loader = {loader}
model = torch.nn.Linear(4, 2).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    loss = model(x.to(device)).sum()
    loss.backward()
    optimizer.step()
"""


def findings(lint, loader, imports="from torch.utils.data import DataLoader", setup="", script=SCRIPT):
    source = script.format(imports=imports, setup=setup, loader=loader)
    return {code for _, code in lint(source, codes={"TL101"})}


@pytest.mark.parametrize(
    "imports, loader",
    [
        ("from torch.utils.data import DataLoader", "DataLoader(ds, batch_size=64, pin_memory=True)"),
        ("from torch.utils.data import DataLoader", "DataLoader(ds, 64, True, None, None, 0)"),
        ("from torch.utils.data import DataLoader as DL", "DL(ds, batch_size=64, num_workers=0)"),
        ("from torch.utils import data", "data.DataLoader(ds, batch_size=64)"),
        ("import torch.utils.data", "torch.utils.data.DataLoader(ds, batch_size=64)"),
        ("import torch as t", "t.utils.data.dataloader.DataLoader(ds, batch_size=64)"),
    ],
)
def test_flags_missing_or_zero_workers_through_every_import_style(lint, imports, loader):
    assert findings(lint, loader, imports) == {"TL101"}


@pytest.mark.parametrize(
    "setup, loader",
    [
        ("WORKERS = 0", "DataLoader(ds, batch_size=64, num_workers=WORKERS)"),
        ("import argparse\np = argparse.ArgumentParser()\np.add_argument('--num-workers', type=int, default=0)\nargs = p.parse_args()",
         "DataLoader(ds, batch_size=64, num_workers=args.num_workers)"),
        ("import argparse\np = argparse.ArgumentParser()\np.add_argument('-j', '--workers', default=8, dest='nw')\np.set_defaults(nw=0)\nargs = p.parse_args()",
         "DataLoader(ds, batch_size=64, num_workers=args.nw)"),
        ("kwargs = {'batch_size': 64, 'shuffle': True}", "DataLoader(ds, **kwargs)"),
        ("kwargs = dict(batch_size=64)\nkwargs['num_workers'] = 0", "DataLoader(ds, **kwargs)"),
    ],
)
def test_resolves_constants_argparse_and_kwargs(lint, setup, loader):
    assert findings(lint, loader, setup=setup) == {"TL101"}


@pytest.mark.parametrize(
    "setup, loader",
    [
        ("", "DataLoader(ds, batch_size=64, num_workers=4)"),
        ("import os", "DataLoader(ds, batch_size=64, num_workers=os.cpu_count())"),
        ("WORKERS = 0\nWORKERS = 4", "DataLoader(ds, batch_size=64, num_workers=WORKERS)"),
        ("import argparse\np = argparse.ArgumentParser()\np.add_argument('--workers', type=int, default=4)\nargs = p.parse_args()",
         "DataLoader(ds, batch_size=64, num_workers=args.workers)"),
        ("import json\ncfg = json.load(open('c.json'))", "DataLoader(ds, batch_size=64, num_workers=cfg['workers'])"),
        ("kwargs = {'batch_size': 64}\nif torch.cuda.is_available():\n    kwargs.update({'num_workers': 2})", "DataLoader(ds, **kwargs)"),
        ("def make():\n    return {}", "DataLoader(ds, **make())"),
        ("", "DataLoader(ds, *extra)"),
        ("ds = torch.utils.data.TensorDataset(torch.randn(8, 4), torch.randn(8))", "DataLoader(ds, batch_size=64)"),
        ("from torch.utils.data import TensorDataset, random_split\nfull = TensorDataset(torch.randn(8, 4))\nds, _ = random_split(full, [6, 2])",
         "DataLoader(ds, batch_size=64)"),
        ("ds = [(torch.randn(4), 1) for _ in range(8)]", "DataLoader(ds, batch_size=64)"),
    ],
)
def test_silent_when_value_unknown_or_workers_pointless(lint, setup, loader):
    assert findings(lint, loader, setup=setup) == set()


def test_silent_for_unsharded_iterable_dataset_and_flags_sharded_one(lint):
    stream = """
from torch.utils.data import IterableDataset, get_worker_info
class Stream(IterableDataset):
    def __iter__(self):
        {body}
        yield from range(10)
ds = Stream()
"""
    assert findings(lint, "DataLoader(ds, batch_size=64)", setup=stream.format(body="pass")) == set()
    sharded = stream.format(body="info = get_worker_info()")
    assert findings(lint, "DataLoader(ds, batch_size=64)", setup=sharded) == {"TL101"}


@pytest.mark.parametrize(
    "body",
    ['return self.x[i].cuda()', 'return self.x[i].to("cuda")', 'return torch.ones(3, device="cuda")'],
)
def test_silent_when_the_dataset_makes_cuda_tensors(lint, body):
    setup = f"""
from torch.utils.data import Dataset
class Cached(Dataset):
    def __getitem__(self, i):
        {body}
ds = Cached()
"""
    assert findings(lint, "DataLoader(ds, batch_size=64)", setup=setup) == set()


def test_silent_when_collate_fn_moves_to_cuda(lint):
    setup = "def collate(batch):\n    return torch.stack(batch).to(device)"
    assert findings(lint, "DataLoader(ds, batch_size=64, collate_fn=collate)", setup=setup) == set()


def test_silent_on_cpu_only_code(lint):
    script = SCRIPT.replace('torch.device("cuda" if torch.cuda.is_available() else "cpu")', '"cpu"')
    assert findings(lint, "DataLoader(ds, batch_size=64)", script=script) == set()


def test_silent_without_training(lint):
    script = SCRIPT.replace("    loss.backward()\n    optimizer.step()\n", "")
    assert findings(lint, "DataLoader(ds, batch_size=64)", script=script) == set()


def test_user_class_named_dataloader_is_not_torchs(lint):
    setup = "class DataLoader:\n    def __init__(self, ds, batch_size=1):\n        self.ds = ds"
    assert findings(lint, "DataLoader(ds, batch_size=64)", imports="from torch.utils.data import DataLoader", setup=setup) == set()
