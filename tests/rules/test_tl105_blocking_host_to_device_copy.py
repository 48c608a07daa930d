"""TL105 blocking-host-to-device-copy."""

import pytest

SCRIPT = """
import torch
from torch.utils.data import DataLoader
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
loader = {loader}
model = torch.nn.Linear(4, 2).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
{move}
    loss = model(x).sum()
    loss.backward()
    optimizer.step()
"""
PINNED = "DataLoader(ds, batch_size=64, num_workers=4, pin_memory=True)"


def findings(lint, move, loader=PINNED, device=None):
    source = SCRIPT.format(loader=loader, move=move)
    if device is not None:
        source = source.replace('torch.device("cuda" if torch.cuda.is_available() else "cpu")', device)
    return [line for line, code in sorted(lint(source, codes={"TL105"}))]


@pytest.mark.parametrize(
    "move",
    ["    x, y = x.to(device), y.to(device)", "    x = x.cuda()", "    x = x.to(device)\n    y = y.to(device, non_blocking=True)",
     "    x = x.to(device=device)"],
)
def test_flags_blocking_copies_of_pinned_batches(lint, move):
    assert findings(lint, move) == [9]


@pytest.mark.parametrize(
    "prelude, pin",
    [("", "torch.cuda.is_available()"), ("PIN = True\n", "PIN"),
     ("import argparse\nparser = argparse.ArgumentParser()\nparser.add_argument('--pin', default=True)\nargs = parser.parse_args()\n", "args.pin")],
)
def test_pinned_by_an_expression_a_constant_or_a_default(lint, prelude, pin):
    loader = f"DataLoader(ds, batch_size=64, num_workers=4, pin_memory={pin})"
    source = prelude + SCRIPT.format(loader=loader, move="    x = x.to(device)")
    assert [code for _, code in lint(source, codes={"TL105"})] == ["TL105"]


@pytest.mark.parametrize(
    "move",
    [
        "    x = x.to(device, non_blocking=True)",
        "    x = x.to(device, non_blocking=False)",  # a decision
        "    x = x.float().to(device)",  # rebuilt on the host: not pinned
        "    x = torch.cat([x, x]).to(device)",
        "    x = x.cpu()",
        "    x = x.to(torch.float16)",
        "    x.to(device)",  # discarded: TL203's finding
        "    x = x.to(device, **options)",
    ],
)
def test_silent_for_non_blocking_rebuilt_or_other_moves(lint, move):
    assert findings(lint, move) == []


@pytest.mark.parametrize(
    "loader",
    ["DataLoader(ds, batch_size=64, num_workers=4)", "DataLoader(ds, batch_size=64, pin_memory=False)",
     "DataLoader(ds, batch_size=64, **kwargs)"],
)
def test_silent_for_unpinned_or_unknown_loaders(lint, loader):
    assert findings(lint, "    x = x.to(device)", loader=loader) == []


def test_silent_on_cpu_only_code(lint):
    assert findings(lint, "    x = x.to(device)", device='torch.device("cpu")') == []


def test_silent_when_the_copy_is_every_k_steps(lint):
    source = SCRIPT.format(loader=PINNED, move="    if step_counter % 100 == 0:\n        x = x.to(device)")
    assert lint(source, codes={"TL105"}) == set()


def test_a_step_function_in_another_module_gets_its_batch_from_a_pinned_loader(tmp_path):
    from textwrap import dedent

    from torchlint.run import Run, check
    from torchlint.settings import Settings

    (tmp_path / "pyproject.toml").write_text("[project]\nname='p'\n")
    (tmp_path / "steps.py").write_text(dedent("""
        def train_step(model, optimizer, batch, device):
            images, labels = batch
            images = images.to(device)
            loss = model(images).sum()
            loss.backward()
            optimizer.step()
    """))
    (tmp_path / "train.py").write_text(dedent("""
        import torch
        from torch.utils.data import DataLoader
        from steps import train_step
        device = torch.device("cuda")
        model = torch.nn.Linear(4, 2).to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        loader = DataLoader(ds, batch_size=64, num_workers=4, pin_memory=True)
        for batch in loader:
            train_step(model, optimizer, batch, device)
    """))
    run = Run(Settings(select=["TL105"], root=tmp_path), {"TL105"})
    found = check(run, [tmp_path / "steps.py", tmp_path / "train.py"], jobs=1, use_cache=False, arguments=[tmp_path])
    assert [(d.filename.rpartition("/")[2], d.row) for d in found] == [("steps.py", 4)]


def test_the_fix_adds_non_blocking():
    from textwrap import dedent

    from torchlint.engine import build_rules
    from torchlint.fixes.apply import fix_source
    from torchlint.settings import RuleOptions

    source = dedent(SCRIPT.format(loader=PINNED, move="    x, y = x.to(device), y.cuda()"))
    fixed = fix_source(source, "t.py", build_rules({"TL105"}, RuleOptions()), unsafe=False)
    assert "x, y = x.to(device, non_blocking=True), y.cuda(non_blocking=True)" in fixed.source
