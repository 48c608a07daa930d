"""TL404 zero-grad-without-set-to-none: reported only for projects that target torch < 2.0."""

import pytest

SCRIPT = """
import torch
import torch.nn.functional as F
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model = torch.nn.Linear(4, 2).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
optimizer.zero_grad()
for epoch in range(10):
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)
{body}
"""
LINE = 12


def findings(lint, body, target="1.13"):
    return sorted(line for line, _ in lint(SCRIPT.format(body=body), codes={"TL404"}, target_torch=target))


@pytest.mark.parametrize(
    "body",
    [
        "        optimizer.zero_grad()\n        loss.backward()\n        optimizer.step()",
        "        model.zero_grad()\n        loss.backward()\n        optimizer.step()",
        "        optimizer.zero_grad(set_to_none=False)\n        loss.backward()\n        optimizer.step()",
        "        optimizer.zero_grad(False)\n        loss.backward()\n        optimizer.step()",
        # every k steps (gradient accumulation) is still many times
        "        loss.backward()\n        if epoch % 4 == 0:\n            optimizer.step()\n            optimizer.zero_grad()",
    ],
)
def test_flags_zero_filling_in_the_step_on_torch_1(lint, body):
    assert len(findings(lint, body)) == 1


@pytest.mark.parametrize(
    "body, target",
    [
        ("        optimizer.zero_grad()\n        loss.backward()\n        optimizer.step()", None),  # no pin: current torch
        ("        optimizer.zero_grad()\n        loss.backward()\n        optimizer.step()", "2.1"),
        ("        optimizer.zero_grad(set_to_none=True)\n        loss.backward()\n        optimizer.step()", "1.13"),
        ("        optimizer.zero_grad(set_to_none=flag)\n        loss.backward()\n        optimizer.step()", "1.13"),
        ("        optimizer.zero_grad(**kw)\n        loss.backward()\n        optimizer.step()", "1.13"),
        # the step reads gradients: None where zeros were could break it
        ("        optimizer.zero_grad()\n        loss.backward()\n        norm = sum(p.grad.norm() for p in model.parameters())\n"
         "        optimizer.step()", "1.13"),
        # not an optimizer or a model
        ("        meter.zero_grad()\n        loss.backward()\n        optimizer.step()", "1.13"),
    ],
)
def test_silent_on_torch_2_explicit_choices_and_gradient_reads(lint, body, target):
    assert findings(lint, body, target) == []


def test_the_fix_needs_set_to_none_in_every_admitted_torch():
    from torchlint.engine import build_rules
    from torchlint.fixes.apply import fix_source
    from torchlint.settings import RuleOptions

    source = SCRIPT.format(body="        optimizer.zero_grad()\n        loss.backward()\n        optimizer.step()")
    fixed = fix_source(source, "t.py", build_rules({"TL404"}, RuleOptions(target_torch="1.13")), unsafe=True)
    assert "        optimizer.zero_grad(set_to_none=True)\n" in fixed.source
    assert "optimizer.zero_grad()\nfor epoch" in fixed.source  # the one before training stays
    old = fix_source(source, "t.py", build_rules({"TL404"}, RuleOptions(target_torch="1.4")), unsafe=True)
    assert not old.changed
    [finding] = old.remaining
    assert "p.grad = None" in finding.message and finding.fix["applicability"] == "display-only"
