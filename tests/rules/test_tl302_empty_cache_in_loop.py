"""TL302 empty-cache-in-loop."""

import pytest

SCRIPT = """
import torch
device = torch.device("cuda")
model = torch.nn.Linear(4, 2).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(10):
    for x in loader:
        loss = model(x.to(device)).sum()
        loss.backward()
        optimizer.step()
{step}
{epoch}
"""


def findings(lint, step="", epoch=""):
    return sorted(line for line, _ in lint(SCRIPT.format(step=step, epoch=epoch), codes={"TL302"}))


@pytest.mark.parametrize("step", ["        torch.cuda.empty_cache()", "        torch.mps.empty_cache()"])
def test_flags_a_call_per_step(lint, step):
    assert findings(lint, step=step) == [11]


@pytest.mark.parametrize(
    "step, epoch",
    [
        ("", "    torch.cuda.empty_cache()"),  # per epoch
        ("        if step % 100 == 0:\n            torch.cuda.empty_cache()", ""),
        ("        if args.empty_cache_level >= 2:\n            torch.cuda.empty_cache()", ""),
        ("        try:\n            pass\n        except RuntimeError:\n            torch.cuda.empty_cache()", ""),
        ("        if x.size(1) > 100:\n            torch.cuda.empty_cache()", ""),  # for some inputs only
    ],
)
def test_silent_per_epoch_gated_or_on_error(lint, step, epoch):
    assert findings(lint, step=step, epoch=epoch) == []


def test_silent_once_after_an_evaluation(lint):
    source = """
    import torch
    @torch.no_grad()
    def validate(model, loader):
        for x in loader:
            model(x.cuda())
        torch.cuda.empty_cache()
    """
    assert lint(source, codes={"TL302"}) == set()


def test_flags_a_per_step_helper_and_a_per_batch_eval_loop(lint):
    source = """
    import torch
    def after_step():
        torch.cuda.empty_cache()
    val_loader = torch.utils.data.DataLoader(val_set, batch_size=64, num_workers=2, pin_memory=True)
    model = torch.nn.Linear(4, 2).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x in loader:
        model(x.cuda()).sum().backward()
        optimizer.step()
        after_step()
    with torch.no_grad():
        for x in val_loader:
            model(x.cuda())
            torch.cuda.empty_cache()
    """
    assert lint(source, codes={"TL302"}) == {(4, "TL302"), (15, "TL302")}


def test_the_unsafe_fix_moves_the_call_after_its_loop():
    from textwrap import dedent

    from torchlint.engine import build_rules
    from torchlint.fixes.apply import fix_source
    from torchlint.settings import RuleOptions

    rules = build_rules({"TL302"}, RuleOptions())
    source = dedent(SCRIPT.format(step="        torch.cuda.empty_cache()", epoch="    print(epoch)"))
    assert not fix_source(source, "t.py", rules, unsafe=False).changed
    fixed = fix_source(source, "t.py", rules, unsafe=True).source
    assert fixed.endswith("        optimizer.step()\n    torch.cuda.empty_cache()\n    print(epoch)\n")
    # The only statement of a block becomes `pass`.
    lonely = dedent("""
        import torch
        model = torch.nn.Linear(4, 2).cuda()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for x in loader:
            model(x.cuda()).sum().backward()
            optimizer.step()
            for _ in range(2):
                torch.cuda.empty_cache()
    """)
    fixed = fix_source(lonely, "t.py", rules, unsafe=True).source
    # Out of the inner loop, it would still run per step: the next pass moves it on.
    assert fixed.endswith("    for _ in range(2):\n        pass\ntorch.cuda.empty_cache()\n")
