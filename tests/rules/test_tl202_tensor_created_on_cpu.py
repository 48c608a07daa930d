"""TL202 tensor-created-on-cpu: a tensor filled on the host every step, then copied."""

import pytest

# A training step loop; {body} runs once per step (indented into the loop), {before}
# once before it.
SCRIPT = """
import torch
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model = torch.nn.Linear(3, 3).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
{before}
for step, (x, y) in enumerate(loader):
    x = x.to(device)
{body}
    loss = model(x).sum()
    loss.backward()
    optimizer.step()
"""


def findings(lint, body, before=""):
    body = "\n".join("    " + line for line in body.splitlines())
    return lint(SCRIPT.format(body=body, before=before), codes={"TL202"})


@pytest.mark.parametrize(
    "body",
    [
        "mask = torch.ones(8, 8).to(device)",
        "noise = torch.randn(4, 100).cuda()",
        "ids = torch.arange(10, dtype=torch.long).to(device=device)",
        "t = torch.zeros(3)\nt = t.to(device)",
        "t = torch.zeros(3).float().to(device, non_blocking=True)",
        "h = torch.autograd.Variable(torch.zeros(2, 3)).cuda()",
    ],
)
def test_flags_a_per_step_fill_then_copy(lint, body):
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
        "t = torch.tensor([1.0, 2.0]).to(device)",  # host data: `device=` would copy it all the same
        "t = torch.as_tensor(values).to(device)",
        "t = torch.zeros(3)\nt[0] = 1\nt = t.to(device)",  # built on the host first, on purpose
        "t_cpu = torch.zeros(3)\nt = t_cpu.to(device)\nprint(t_cpu)",  # the host copy is used again
        "t = torch.zeros(3)\nt = other\nt.to(device)",
        "t = torch.zeros(*shape).to(device)",
        "if step % 100 == 0:\n    grid = torch.zeros(8, 8).to(device)",  # every k steps
        "if args.debug:\n    grid = torch.zeros(8, 8).to(device)",
    ],
)
def test_silent_when_the_host_tensor_is_meant_rare_or_unknown(lint, body):
    assert findings(lint, body) == set()


@pytest.mark.parametrize(
    "before",
    [
        "weights = torch.ones(3).to(device)",  # set-up, once
        "buffer = torch.zeros(128, 3).cuda()",
    ],
)
def test_one_time_allocations_are_not_findings(lint, before):
    assert findings(lint, "pass", before=before) == set()


def test_once_per_epoch_is_not_per_step(lint):
    source = """
import torch
device = torch.device("cuda")
model = torch.nn.Linear(3, 3).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(10):
    total = torch.zeros(1).to(device)
    for x in loader:
        model(x.to(device)).sum().backward()
        optimizer.step()
"""
    assert lint(source, codes={"TL202"}) == set()


def test_flags_helpers_called_per_step_and_forward_of_the_trained_model(lint):
    source = """
import torch
import torch.nn as nn
device = torch.device("cuda")

def jitter(x):
    return x + torch.randn(x.shape).to(device)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        positions = torch.arange(x.size(1)).to(x.device)
        return self.fc(x + positions)

def unused(x):
    return torch.ones(3).to(device)

model = Net().to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for x in loader:
    loss = model(jitter(x.to(device))).sum()
    loss.backward()
    optimizer.step()
"""
    assert lint(source, codes={"TL202"}) == {(7, "TL202"), (15, "TL202")}


def test_silent_in_dataset_and_collate_code(lint):
    body = "pass"
    before = (
        "class Items(torch.utils.data.Dataset):\n"
        "    def __getitem__(self, i):\n"
        "        return torch.zeros(3).to(device)\n"
        "def collate_fn(batch):\n"
        "    return torch.ones(3).to(device)\n"
        "loader = torch.utils.data.DataLoader(Items(), collate_fn=collate_fn)"
    )
    assert findings(lint, body, before=before) == set()


def test_silent_without_accelerator_evidence(lint):
    source = SCRIPT.replace('torch.device("cuda" if torch.cuda.is_available() else "cpu")', "dev").replace("(device)", "(dev)")
    body = "    t = torch.zeros(3).to(dev)"
    assert lint(source.format(body=body, before=""), codes={"TL202"}) == set()


def test_message_names_the_device_to_use():

    from torchlint.engine import build_rules, lint_source
    from torchlint.settings import RuleOptions

    body = "    noise = torch.randn(4).cuda()"
    [d] = lint_source(SCRIPT.format(body=body, before=""), "t.py", build_rules({"TL202"}, RuleOptions()))
    assert d.message.endswith('`torch.randn(..., device="cuda")`')
    assert (d.row, d.column) == (9, 13)


def test_a_tuple_unpacking_target_is_not_a_read(lint):
    """Targets of `a, b = ...` used to be recorded as reads, which hid the move below."""
    body = "noise = torch.randn(4)\nnoise, scale = noise.to(device), 2.0"
    assert [code for _, code in findings(lint, body)] == ["TL202"]


def test_flags_a_mask_computed_from_a_factory_and_moved(lint):
    body = "labels = torch.cat([torch.arange(8) for _ in range(2)])\nmask = (labels[None] == labels[:, None]).float()\nmask = mask.to(device)"
    assert [code for _, code in findings(lint, body)] == ["TL202"]


def test_a_copy_to_a_cuda_tensor_type_is_a_move(lint):
    source = """
    import torch
    model = torch.nn.Linear(4, 4).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    Tensor = torch.cuda.FloatTensor
    for x in loader:
        noise = torch.randn(64, 4).type(Tensor)
        loss = model(x.cuda() + noise).sum()
        loss.backward()
        optimizer.step()
    """
    assert lint(source, codes={"TL202"}) == {(7, "TL202")}


def test_a_single_training_step_called_once_is_set_up(lint):
    # A demo that runs one step (pytorch/examples' DDP example): no loop runs it.
    source = """
    import torch

    def demo_basic(rank):
        model = torch.nn.Linear(10, 5).to(rank)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.001)
        outputs = model(torch.randn(20, 10).to(rank))
        labels = torch.randn(20, 5).to(rank)
        torch.nn.functional.mse_loss(outputs, labels).backward()
        optimizer.step()

    def learn(model, optimizer, batch):
        weights = torch.ones(32).to("cuda")
        (model(batch) * weights).sum().backward()
        optimizer.step()

    if __name__ == "__main__":
        demo_basic(0)
        model = torch.nn.Linear(10, 32).cuda()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.001)
        for batch in loader:
            learn(model, optimizer, batch.cuda())
    """
    assert lint(source, codes={"TL202"}) == {(13, "TL202")}
