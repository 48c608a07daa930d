"""TL102 dataloader-no-pin-memory."""

import pytest

SCRIPT = """
import torch
from torch.utils.data import DataLoader
device = {device}
loader = {loader}
model = torch.nn.Linear(4, 2).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    x, y = x.to(device), y.to(device)
    loss = model(x).sum()
    loss.backward()
    optimizer.step()
"""
CUDA = 'torch.device("cuda" if torch.cuda.is_available() else "cpu")'


def findings(lint, loader, device=CUDA, script=SCRIPT):
    return {code for _, code in lint(script.format(device=device, loader=loader), codes={"TL102"})}


@pytest.mark.parametrize(
    "loader",
    ["DataLoader(ds, batch_size=64, num_workers=4)", "DataLoader(ds, 64, True, None, None, 4, None, False)",
     "DataLoader(ds, batch_size=64, num_workers=4, pin_memory=False)"],
)
def test_flags_missing_or_false_pin_memory_when_batches_go_to_cuda(lint, loader):
    assert findings(lint, loader) == {"TL102"}


@pytest.mark.parametrize(
    "loader",
    ["DataLoader(ds, batch_size=64, pin_memory=True)",
     "DataLoader(ds, batch_size=64, pin_memory=torch.cuda.is_available())",
     "DataLoader(ds, **loader_kwargs)"],
)
def test_silent_when_pinned_or_unknown(lint, loader):
    assert findings(lint, loader) == set()


@pytest.mark.parametrize("device", ['"cpu"', 'torch.device("mps")', '"mps" if torch.backends.mps.is_available() else "cpu"'])
def test_silent_on_cpu_and_mps(lint, device):
    assert findings(lint, "DataLoader(ds, batch_size=64)", device=device) == set()


def test_silent_when_batches_are_never_moved(lint):
    script = SCRIPT.replace("    x, y = x.to(device), y.to(device)\n", "")
    assert findings(lint, "DataLoader(ds, batch_size=64)", script=script) == set()


def test_silent_when_the_dataset_yields_cuda_tensors(lint):
    script = SCRIPT.replace(
        "loader = ",
        "class OnGpu(torch.utils.data.Dataset):\n    def __getitem__(self, i):\n        return torch.ones(2).cuda()\nds = OnGpu()\nloader = ",
    )
    assert findings(lint, "DataLoader(ds, batch_size=64)", script=script) == set()


def test_batches_count_as_moved_through_a_derived_name(lint):
    script = SCRIPT.replace("    x, y = x.to(device), y.to(device)\n", "    inputs = torch.autograd.Variable(x[0])\n    inputs = inputs.cuda()\n")
    assert findings(lint, "DataLoader(ds, batch_size=64)", script=script) == {"TL102"}


def test_silent_for_a_tensor_dataset_already_on_the_device(lint):
    script = SCRIPT.replace(
        "loader = ", "xs = torch.randn(256, 4).to(device)\nds = torch.utils.data.TensorDataset(xs, torch.randn(256, 1).to(device))\nloader = "
    )
    assert findings(lint, "DataLoader(ds, batch_size=64)", script=script) == set()


@pytest.mark.parametrize(
    "loop",
    [
        "for i, data in enumerate(loader):\n    img, label = data\n    img = img.cuda()\n",
        "for i, data in enumerate(loader):\n    img = torch.autograd.Variable(data[0]).to(device)\n",
        "for batch in loader:\n    batch = {k: v.to(device) for k, v in batch.items()}\n",
    ],
)
def test_common_idioms_of_moving_batches(lint, loop):
    source = f"""
import torch
from torch.utils.data import DataLoader
device = torch.device("cuda")
loader = DataLoader(ds, batch_size=64, num_workers=4)
model = torch.nn.Linear(4, 2).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
{loop}    model(img).sum().backward()
    optimizer.step()
"""
    assert {code for _, code in lint(source, codes={"TL102"})} == {"TL102"}


@pytest.mark.parametrize(
    "move",
    ["    x = x.type(torch.cuda.FloatTensor)\n",
     "    x = Variable(x.type(Tensor))\n",
     '    x = x.type("torch.cuda.FloatTensor")\n'],
)
def test_a_copy_to_a_cuda_tensor_type_is_a_move(lint, move):
    # PyTorch-GAN's idiom: `Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor`.
    script = SCRIPT.replace(
        "    x, y = x.to(device), y.to(device)\n", move
    ).replace(
        "device = {device}\n",
        "from torch.autograd import Variable\ndevice = {device}\n"
        "Tensor = torch.cuda.FloatTensor if torch.cuda.is_available() else torch.FloatTensor\n",
    )
    assert findings(lint, "DataLoader(ds, batch_size=64, num_workers=4)", script=script) == {"TL102"}


def test_a_host_tensor_type_is_no_move(lint):
    script = SCRIPT.replace("    x, y = x.to(device), y.to(device)\n", "    x = x.type(torch.FloatTensor)\n")
    assert findings(lint, "DataLoader(ds, batch_size=64, num_workers=4)", script=script) == set()


def test_torch_accelerator_counts_as_cuda(lint):
    device = "torch.accelerator.current_accelerator() if torch.accelerator.is_available() else torch.device('cpu')"
    assert findings(lint, "DataLoader(ds, batch_size=64, num_workers=4)", device=device) == {"TL102"}


def test_a_loop_over_the_rows_of_one_sampled_batch_is_no_use_of_the_loader(lint):
    # GAN scripts draw one validation batch now and then and loop over its images.
    script = """
    import torch
    from torch.utils.data import DataLoader
    device = torch.device("cuda")
    model = torch.nn.Linear(4, 2).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train_loader = DataLoader(ds, batch_size=64, num_workers=4, pin_memory=True)
    val_loader = DataLoader(val_ds, batch_size=8, num_workers=1)

    def sample_images():
        images = next(iter(val_loader))
        for image in images:
            print(model(image.to(device)))

    for step, (x, y) in enumerate(train_loader):
        loss = model(x.to(device)).sum()
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            sample_images()
    """
    assert lint(script, codes={"TL102"}) == set()
