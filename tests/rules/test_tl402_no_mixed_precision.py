"""TL402 no-mixed-precision: once per training entry point, when nothing in the project
uses or decides reduced precision."""

import pytest

SCRIPT = """
import argparse
import torch
import torch.nn as nn
import torch.nn.functional as F
device = torch.device("{device}")
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).to(device)
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
LOOP = 11


def findings(lint, extra="", device="cuda"):
    return sorted(line for line, _ in lint(SCRIPT.format(extra=extra, device=device), codes={"TL402"}))


def test_flags_the_training_loop_of_fp32_gpu_training(lint):
    assert findings(lint) == [LOOP]


@pytest.mark.parametrize(
    "extra, device",
    [
        ("", "cpu"),
        ("scaler = torch.cuda.amp.GradScaler()", "cuda"),
        ("ctx = torch.autocast('cuda', dtype=torch.bfloat16)", "cuda"),
        ("model = model.half()", "cuda"),
        ("model = model.to(torch.bfloat16)", "cuda"),
        # a flag that switches AMP on: fp32 by default is a choice
        ("parser = argparse.ArgumentParser()\nparser.add_argument('--amp', action='store_true')", "cuda"),
        ("from apex import amp", "cuda"),
        # Accelerate decides from its config
        ("from accelerate import Accelerator\naccelerator = Accelerator()", "cuda"),
        # reinforcement learning: small, launch-bound networks
        ("import gym\nenv = gym.make('CartPole-v1')", "cuda"),
    ],
)
def test_silent_where_precision_is_used_or_decided(lint, extra, device):
    assert findings(lint, extra, device) == []


def test_framework_configurations_are_reported_where_the_precision_is_chosen(lint):
    lightning = """
import lightning as L
trainer = L.Trainer(max_epochs=10, accelerator="gpu")
trainer.fit(model, loader)
"""
    hf = """
from transformers import TrainingArguments
args = TrainingArguments(output_dir="out", per_device_train_batch_size=16)
"""
    assert lint(lightning, codes={"TL402"}) == {(3, "TL402")}
    assert lint(hf, codes={"TL402"}) == {(3, "TL402")}
    assert lint(lightning.replace('accelerator="gpu"', 'precision="bf16-mixed"'), codes={"TL402"}) == set()
    assert lint(hf.replace("per_device_train_batch_size=16", "bf16=True"), codes={"TL402"}) == set()
    assert lint(hf.replace("per_device_train_batch_size=16", "**config"), codes={"TL402"}) == set()


def test_the_fix_autocasts_the_block_that_computes_the_loss():
    from torchlint.engine import build_rules
    from torchlint.fixes.apply import fix_source
    from torchlint.settings import RuleOptions

    rules = build_rules({"TL402"}, RuleOptions())
    source = SCRIPT.format(extra="", device="cuda")
    assert not fix_source(source, "t.py", rules).changed  # unsafe only
    fixed = fix_source(source, "t.py", rules, unsafe=True).source
    assert (
        "        x, y = x.to(device), y.to(device)\n"
        "        with torch.autocast(\"cuda\", dtype=torch.bfloat16):\n"
        "            loss = F.cross_entropy(model(x), y)\n"
        "        optimizer.zero_grad()\n"
    ) in fixed
    # the loss computed under a condition: shown, not applied
    branchy = source.replace("        loss = F.cross_entropy(model(x), y)\n",
                             "        if epoch:\n            loss = F.cross_entropy(model(x), y)\n        else:\n            loss = model(x).sum()\n")
    assert not fix_source(branchy, "t.py", rules, unsafe=True).changed


def test_the_fix_leaves_a_block_with_a_multiline_string_alone():
    from torchlint.engine import build_rules
    from torchlint.fixes.apply import fix_source
    from torchlint.settings import RuleOptions

    source = SCRIPT.format(extra="", device="cuda").replace(
        "        loss = F.cross_entropy(model(x), y)\n",
        '        note = """first\nsecond"""\n        loss = F.cross_entropy(model(x), y)\n')
    assert not fix_source(source, "t.py", build_rules({"TL402"}, RuleOptions()), unsafe=True).changed
