"""TL202 tensor-created-on-cpu."""

import pytest

PRELUDE = """
import torch
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
"""


def findings(lint, body):
    return lint(PRELUDE + body, codes={"TL202"})


@pytest.mark.parametrize(
    "body",
    [
        "mask = torch.ones(8, 8).to(device)",
        "noise = torch.randn(4, 100).cuda()",
        "ids = torch.arange(10, dtype=torch.long).to(device=device)",
        "t = torch.tensor([1.0, 2.0]).to(device, non_blocking=True)",
        "t = torch.zeros(3)\nt = t.to(device)",
        "def step(x):\n    w = torch.ones(3)\n    return x * w.to(device)",
    ],
)
def test_flags_create_then_move(lint, body):
    assert [code for _, code in findings(lint, body)] == ["TL202"]


@pytest.mark.parametrize(
    "body",
    [
        "t = torch.ones(3, device=device)",
        "t = torch.ones_like(x).to(device)",
        "t = torch.zeros(3).to(torch.float16)",
        "t = torch.zeros(3).cpu()",
        't = torch.zeros(3).to("cpu")',
        "t = torch.from_numpy(a).to(device)",
        "t = torch.zeros(3)\nt[0] = 1\nt = t.to(device)",  # built on the host first, on purpose
        "t_cpu = torch.zeros(3)\nt = t_cpu.to(device)\nprint(t_cpu)",  # the host copy is used again
        "t = torch.zeros(3)\nt = other\nt.to(device)",
        "TABLE = torch.tensor([1.0, 2.0])\ndef lookup(x):\n    return TABLE.to(x.device)[x]",
        "class Items(torch.utils.data.Dataset):\n    def __getitem__(self, i):\n        return torch.tensor([i]).to(device)",
        "def collate_fn(batch):\n    return torch.tensor(batch).to(device)",
        "t = torch.zeros(*shape).to(device)",
    ],
)
def test_silent_when_the_host_tensor_is_meant_or_unknown(lint, body):
    assert findings(lint, body) == set()


def test_silent_without_accelerator_evidence(lint):
    assert lint("import torch\nt = torch.zeros(3).to(dev)\n", codes={"TL202"}) == set()


def test_message_names_the_device_to_use(lint):
    from torchlint.engine import build_rules, lint_source
    from torchlint.settings import RuleOptions

    [d] = lint_source(PRELUDE + "noise = torch.randn(4).cuda()\n", "t.py", build_rules({"TL202"}, RuleOptions()))
    assert d.message.endswith('`torch.randn(..., device="cuda")`')
    assert (d.row, d.column) == (4, 9)
