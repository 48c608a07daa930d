"""TL104 dataloader-no-persistent-workers."""

import pytest

SCRIPT = """
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model = torch.nn.Linear(4, 2).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
loader = DataLoader(ds, batch_size=64, shuffle=True, pin_memory=True{options})

def step(x, y):
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

{body}
"""
EPOCHS = "for epoch in range(10):\n    for x, y in loader:\n        step(x, y)"
LINE = 8


def findings(lint, options=", num_workers=4", body=EPOCHS):
    return sorted(line for line, _ in lint(SCRIPT.format(options=options, body=body), codes={"TL104"}))


@pytest.mark.parametrize(
    "options, body",
    [
        (", num_workers=4", EPOCHS),
        (", num_workers=os.cpu_count()", "import os\n" + EPOCHS),
        # a function iterating it, called every epoch
        (", num_workers=4", "def one_epoch():\n    for x, y in loader:\n        step(x, y)\nfor epoch in range(5):\n    one_epoch()"),
    ],
)
def test_flags_loaders_with_workers_iterated_again_and_again(lint, options, body):
    assert findings(lint, options, body) == [LINE]


@pytest.mark.parametrize(
    "options, body",
    [
        (", num_workers=4", "for x, y in loader:\n    step(x, y)"),  # one pass
        (", num_workers=4", "for epoch in range(1):\n    for x, y in loader:\n        step(x, y)"),
        ("", EPOCHS),  # no workers: TL101's finding
        (", num_workers=0", EPOCHS),
        (", num_workers=4, persistent_workers=True", EPOCHS),
        (", num_workers=4, persistent_workers=False", EPOCHS),  # set on purpose
        (", num_workers=4, **options", EPOCHS),
        (", num_workers=cfg.workers", EPOCHS),  # a count we cannot read
        # the dataset changes between epochs in the main process
        (", num_workers=4", "for epoch in range(10):\n    ds.resample(epoch)\n    for x, y in loader:\n        step(x, y)"),
        (", num_workers=4", "for epoch in range(10):\n    loader.dataset.set_epoch(epoch)\n    for x, y in loader:\n        step(x, y)"),
    ],
)
def test_silent_for_one_pass_no_workers_and_datasets_changed_between_passes(lint, options, body):
    assert findings(lint, options, body) == []


def test_the_fix_sets_persistent_workers_unsafely():
    from torchlint.engine import build_rules
    from torchlint.fixes.apply import fix_source
    from torchlint.settings import RuleOptions

    source = SCRIPT.format(options=", num_workers=4", body=EPOCHS)
    rules = build_rules({"TL104"}, RuleOptions())
    assert not fix_source(source, "t.py", rules).changed
    fixed = fix_source(source, "t.py", rules, unsafe=True).source
    assert "pin_memory=True, num_workers=4, persistent_workers=True)" in fixed
    old = fix_source(source, "t.py", build_rules({"TL104"}, RuleOptions(target_torch="1.6")), unsafe=True)
    assert not old.changed and old.remaining[0].fix["applicability"] == "display-only"


HF = """
from transformers import TrainingArguments
args = TrainingArguments(output_dir="out", dataloader_num_workers=4{options})
"""


@pytest.mark.parametrize(
    "options, flagged",
    [
        ("", True),  # 3 epochs by default
        (", num_train_epochs=1, eval_strategy='steps'", True),
        (", num_train_epochs=1", False),
        (", max_steps=1000", False),
        (", dataloader_persistent_workers=True", False),
    ],
)
def test_hugging_face_training_arguments(lint, options, flagged):
    assert bool(lint(HF.format(options=options), codes={"TL104"})) is flagged
