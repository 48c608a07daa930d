"""What torch and the training frameworks' APIs are: names, signatures, and which calls
build which kind of value. Tables only; the evaluator applies them."""

from __future__ import annotations

import re

DATALOADER = "torch.utils.data.DataLoader"
DATALOADER_PARAMS = (
    "dataset", "batch_size", "shuffle", "sampler", "batch_sampler", "num_workers", "collate_fn",
    "pin_memory", "drop_last", "timeout", "worker_init_fn",
)

# DataLoaders: torch's, and the subclasses and wrappers that pass `num_workers`,
# `pin_memory` and the rest to it; with their positional parameters.
LOADER_CLASSES = {
    DATALOADER: DATALOADER_PARAMS,
    "torch_geometric.loader.DataLoader": ("dataset", "batch_size", "shuffle", "follow_batch", "exclude_keys"),
    "torch_geometric.data.DataLoader": ("dataset", "batch_size", "shuffle", "follow_batch", "exclude_keys"),
    "torch_geometric.loader.DenseDataLoader": ("dataset", "batch_size", "shuffle"),
    "torch_geometric.loader.DataListLoader": ("dataset", "batch_size", "shuffle"),
    "torch_geometric.loader.NeighborLoader": ("dataset", "num_neighbors", "input_nodes"),
    "torch_geometric.loader.LinkNeighborLoader": ("dataset", "num_neighbors", "edge_label_index"),
    "torch_geometric.loader.HGTLoader": ("dataset", "num_samples", "input_nodes"),
    "torch_geometric.loader.ClusterLoader": ("dataset",),
    "torch_geometric.loader.GraphSAINTRandomWalkSampler": ("dataset", "batch_size", "walk_length"),
    "torch_geometric.loader.GraphSAINTNodeSampler": ("dataset", "batch_size"),
    "torch_geometric.loader.GraphSAINTEdgeSampler": ("dataset", "batch_size"),
    "torch_geometric.loader.ShaDowKHopSampler": ("dataset", "depth", "num_neighbors", "node_idx"),
    "torch_geometric.loader.NeighborSampler": ("dataset", "sizes", "node_idx"),
    "webdataset.WebLoader": DATALOADER_PARAMS,
    "webdataset.compat.WebLoader": DATALOADER_PARAMS,
}
# Loaders whose batches are graph or sample objects, not tensors: `batch.to(device)` moves
# them in place (PyG's Data and Batch), so a discarded `.to()` is no bug there.
OBJECT_BATCH_LOADERS = frozenset(q for q in LOADER_CLASSES if q.startswith("torch_geometric."))
# Libraries the rules know by name: imported from inside their own source tree (a check of
# the library's repository, its examples), they are still the library.
KNOWN_LIBRARIES = frozenset(
    """torch torchvision torchaudio torchtext lightning pytorch_lightning lightning_fabric ignite
    transformers accelerate datasets torch_geometric timm webdataset einops tqdm trl setfit""".split()
)

# Libraries whose objects are never the project's model: what an unmodelled call of theirs
# returns is a library object (`Opaque`), not an unknown that could be anything.
# Configuration instantiators (hydra, omegaconf) are left out on purpose: they build models.
LIBRARY_PACKAGES = KNOWN_LIBRARIES | frozenset(
    """numpy PIL cv2 pandas scipy sklearn json os sys math random time logging collections
    itertools functools pathlib re copy pickle h5py librosa soundfile wandb tensorboard
    tensorboardX matplotlib yaml tokenizers sentencepiece huggingface_hub safetensors
    torchmetrics evaluate nltk spacy gym gymnasium""".split()
)

# torch functions that build a new tensor from sizes or data and accept `device=`.
TENSOR_FACTORIES = frozenset(
    """zeros ones empty full arange range linspace logspace eye rand randn randint randperm
    tensor as_tensor normal bernoulli multinomial poisson empty_strided tril_indices
    triu_indices sparse_coo_tensor complex polar hann_window hamming_window blackman_window""".split()
)
# Factories that fill from sizes alone: their data never existed on the host, so building
# them on the host and copying is pure waste. (`tensor`/`as_tensor` copy host data that
# exists anyway: `device=` still builds them on the host first.)
FILLING_FACTORIES = TENSOR_FACTORIES - frozenset(("tensor", "as_tensor", "sparse_coo_tensor", "complex", "polar"))
# Factories whose values do not depend on where they are computed.
SAME_VALUES_ON_ANY_DEVICE = frozenset("zeros ones full eye empty tensor as_tensor tril_indices triu_indices".split())

# torch functions that return tensors, beyond the factories.
TENSOR_FUNCTIONS = TENSOR_FACTORIES | frozenset(
    """from_numpy cat stack concat hstack vstack where matmul mm bmm einsum exp log sigmoid
    tanh relu softmax log_softmax clamp abs sqrt sum mean max min argmax argmin flatten
    reshape squeeze unsqueeze transpose permute zeros_like ones_like empty_like full_like
    rand_like randn_like randint_like clone cumsum sort topk gather index_select masked_fill
    sin cos pow mul add sub div triu tril outer meshgrid diag diag_embed cumprod repeat_interleave
    sqrt rsqrt floor ceil round sign logical_not logical_and logical_or bitwise_not isnan isinf
    isfinite any all eq ne gt lt ge le nonzero count_nonzero norm allclose equal""".split()
)
# Library functions that take and return tensors on the same device.
TENSOR_LIBRARY_FUNCTIONS = frozenset(
    """einops.rearrange einops.repeat einops.reduce torch.nn.functional.pad torch.nn.functional.one_hot
    torch.nn.functional.normalize torch.nn.functional.softmax torch.nn.functional.interpolate""".split()
)
# Tensor methods that return a tensor on the same device.
TENSOR_METHODS = frozenset(
    """float half double bfloat16 long int bool byte short view reshape unsqueeze squeeze
    permute transpose contiguous clone detach flatten t expand expand_as repeat sum mean abs
    sqrt exp log sigmoid softmax log_softmax pin_memory type_as view_as narrow select
    index_select masked_fill add sub mul div pow clamp squeeze_ unsqueeze_ requires_grad_
    type long squeeze permute chunk split fill_ zero_ uniform_ normal_ random_ bernoulli_ triu tril
    expand_as masked_fill_ scatter scatter_ index_fill repeat_interleave cumsum cumprod flip roll
    diag diagonal max min argmax argmin amax amin any all eq ne gt lt ge le topk sort argsort
    norm std var prod nonzero masked_select round floor ceil sign neg reciprocal add_ mul_
    sub_ div_ clamp_ matmul mm bmm gather isnan isinf isfinite logical_not logical_and
    logical_or square rsqrt tanh relu""".split()
)
# Legacy typed constructors: `torch.FloatTensor(n, m).fill_(0)` builds an n x m tensor on the host.
LEGACY_CONSTRUCTORS = frozenset(
    "FloatTensor DoubleTensor HalfTensor LongTensor IntTensor ShortTensor ByteTensor CharTensor BoolTensor Tensor".split()
)
# In-place fills that show a legacy constructor was given sizes, not data.
FILLS = frozenset("fill_ zero_ uniform_ normal_ random_ bernoulli_ exponential_ geometric_".split())
# Module methods that return the module itself.
MODULE_SELF_METHODS = frozenset("to cuda cpu float half double bfloat16 train eval requires_grad_ to_empty xpu share_memory".split())

NOT_MODULES = (
    "torch.nn.Parameter", "torch.nn.Buffer", "torch.nn.init", "torch.nn.functional", "torch.nn.utils",
    "torch.nn.parallel", "torch.nn.ParameterList", "torch.nn.ParameterDict",
)
PARAMETER_FREE_LAYERS = frozenset(
    """ReLU ReLU6 LeakyReLU GELU SiLU Mish ELU SELU CELU Sigmoid Tanh Softmax LogSoftmax Softplus
    Hardtanh Hardswish Hardsigmoid Tanhshrink Softsign Dropout Dropout1d Dropout2d Dropout3d
    AlphaDropout Identity Flatten Unflatten MaxPool1d MaxPool2d MaxPool3d AvgPool1d AvgPool2d
    AvgPool3d AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d
    AdaptiveMaxPool2d AdaptiveMaxPool3d Upsample PixelShuffle PixelUnshuffle CosineSimilarity
    PairwiseDistance ZeroPad2d ConstantPad1d ConstantPad2d ReflectionPad2d""".split()
)
# Wrappers that return the module they wrap (for placement, the same object).
MODULE_WRAPPERS = frozenset(
    """torch.compile torch.nn.parallel.DistributedDataParallel torch.nn.DataParallel
    torch.nn.parallel.DataParallel torch.nn.SyncBatchNorm.convert_sync_batchnorm
    torch.distributed.fsdp.FullyShardedDataParallel torch.jit.script ignite.distributed.auto_model
    ignite.distributed.auto.auto_model""".split()
)
# Wrappers that also put the model on the device.
PLACING_WRAPPERS = frozenset("ignite.distributed.auto_model ignite.distributed.auto.auto_model".split())
# Calls that return their first argument, for value purposes.
PASS_THROUGH = frozenset(
    """torch.autograd.Variable torch.autograd.variable.Variable tqdm.tqdm tqdm.auto.tqdm
    tqdm.notebook.tqdm tqdm.std.tqdm builtins.iter builtins.reversed copy.copy functools.partial""".split()
)
# Keywords that put a model's parameters on a device as it is built.
PLACING_KEYWORDS = ("device", "device_map", "device_id", "device_mesh")

HF_DATASET_BUILDERS = ("datasets.load_dataset", "datasets.load_from_disk", "datasets.Dataset.")
DATASET_WRAPPERS = ("torch.utils.data.Subset", "torch.utils.data.dataset.Subset")

LIGHTNING_TRAINER = "lightning.pytorch.Trainer"
LIGHTNING_MODULE = "lightning.pytorch.LightningModule"
LIGHTNING_DATAMODULE = "lightning.pytorch.LightningDataModule"
ACCELERATOR = "accelerate.Accelerator"
IGNITE_TRAINER_FACTORIES = ("ignite.engine.create_supervised_trainer", "ignite.engine.engine.create_supervised_trainer")
IGNITE_ENGINE = ("ignite.engine.Engine", "ignite.engine.engine.Engine", "ignite.engine.DeterministicEngine")

# Lightning hooks that run once per training batch.
LIGHTNING_STEP_HOOKS = frozenset(
    """training_step on_train_batch_start on_train_batch_end on_before_backward on_after_backward
    on_before_optimizer_step on_before_zero_grad optimizer_step backward configure_gradient_clipping
    training_step_end""".split()
)
LIGHTNING_EVAL_STEP_HOOKS = frozenset("validation_step test_step predict_step".split())
# Hugging Face Trainer methods that run per step when overridden, and per-step callback hooks.
HF_TRAINER_STEP_METHODS = frozenset("compute_loss training_step".split())
HF_CALLBACK_STEP_HOOKS = frozenset("on_step_begin on_step_end on_substep_end on_pre_optimizer_step on_optimizer_step".split())

# Public re-exports that point at the same object.
_CANONICAL_PREFIXES = {
    "torch.utils.data.dataloader.": "torch.utils.data.",
    "torch.utils.data.dataset.": "torch.utils.data.",
    "torch.utils.data.sampler.": "torch.utils.data.",
    "torch.nn.modules.module.": "torch.nn.",
    "torch.nn.modules.": "torch.nn.",
    "torch.optim.optimizer.": "torch.optim.",
    "torch.nn.parallel.distributed.": "torch.nn.parallel.",
    "torch.nn.parallel.data_parallel.": "torch.nn.parallel.",
    "pytorch_lightning.": "lightning.pytorch.",
    "lightning.pytorch.core.module.": "lightning.pytorch.",
    "lightning.pytorch.core.datamodule.": "lightning.pytorch.",
    "lightning.pytorch.core.": "lightning.pytorch.",
    "lightning.pytorch.trainer.trainer.": "lightning.pytorch.",
    "lightning.LightningModule": "lightning.pytorch.LightningModule",
    "lightning.Trainer": "lightning.pytorch.Trainer",
    "lightning.LightningDataModule": "lightning.pytorch.LightningDataModule",
    "lightning.fabric.": "lightning.fabric.",
    "accelerate.accelerator.": "accelerate.",
    "ignite.engine.engine.": "ignite.engine.",
}


def canonical(qualname: str) -> str:
    for prefix, replacement in _CANONICAL_PREFIXES.items():
        if qualname.startswith(prefix):
            qualname = replacement + qualname[len(prefix):]
    # torch.nn.modules.linear.Linear -> torch.nn.Linear
    if qualname.startswith("torch.nn.") and qualname.count(".") == 3:
        head, _, last = qualname.rpartition(".")
        if last[:1].isupper() and head not in ("torch.nn.functional", "torch.nn.parallel", "torch.nn.utils", "torch.nn.init"):
            qualname = "torch.nn." + last
    return qualname


def is_torch_module_class(qualname: str) -> bool:
    """An external class whose instances are nn.Modules (with or without parameters)."""
    if qualname.startswith("torch.nn.") and not qualname.startswith(NOT_MODULES):
        last = qualname.rpartition(".")[2]
        return last[:1].isupper() and qualname.count(".") == 2
    return qualname == LIGHTNING_MODULE or qualname.startswith("transformers.") and qualname.endswith(("Model", "PreTrainedModel")) or (
        qualname.startswith("transformers.") and "For" in qualname.rpartition(".")[2]
    )


def is_module_builder(qualname: str) -> bool:
    """Library calls that return a model: torchvision/timm constructors, `from_pretrained`."""
    head, _, last = qualname.rpartition(".")
    if qualname.startswith("torchvision.models.") and last[:1].islower() and not last.startswith(("get_", "list_")):
        return True
    if qualname in ("timm.create_model", "torch.hub.load"):
        return True
    if last == "from_pretrained":
        owner = head.rpartition(".")[2]
        return "Model" in owner or "For" in owner
    return False


def is_loss_or_parameter_free(qualname: str) -> bool:
    last = qualname.rpartition(".")[2]
    return qualname.startswith("torch.nn.") and (last.endswith("Loss") or last in PARAMETER_FREE_LAYERS)


# The classes whose options choose the training set-up (precision, workers, cuDNN).
LIGHTNING_TRAINERS = frozenset((LIGHTNING_TRAINER, "lightning.Trainer", "pytorch_lightning.Trainer",
                                "lightning.pytorch.trainer.trainer.Trainer", "pytorch_lightning.trainer.trainer.Trainer"))
HF_TRAINING_ARGUMENTS = frozenset(("transformers.TrainingArguments", "transformers.Seq2SeqTrainingArguments",
                                   "transformers.training_args.TrainingArguments"))


def is_hf_trainer(qualname: str) -> bool:
    return qualname.startswith(("transformers.", "trl.", "setfit.")) and qualname.endswith("Trainer")


_OPTIMIZER_NAME = re.compile(r"(?i)optim|^opt(?:$|_|[A-Z0-9])|scaler")
DEVICE_NAME = re.compile(r"(?i)device|^(?:dev|gpu|gpu_id|rank|local_rank)$")
DTYPE_NAME = re.compile(r"(?i)dtype|type$|precision|float|half|bf16|fp16|fp32|int\d*$|long|bool")


def looks_like_optimizer(name: str) -> bool:
    return bool(_OPTIMIZER_NAME.search(name))


def device_kind_of_string(text: str) -> str | None:
    head = text.strip().split(":")[0].strip().lower()
    if head in ("cuda", "mps", "xpu", "cpu", "meta"):
        return head
    if head in ("gpu",):
        return "cuda"
    return None


# Calls in a Dataset's __getitem__ that cost next to nothing per sample: indexing stored
# rows with these is "in memory"; anything else (file reads, decoding, augmentation) is work
# that worker processes would take off the training loop.
CHEAP_SAMPLE_CALLS = frozenset(
    """tensor from_numpy as_tensor LongTensor FloatTensor IntTensor Tensor array asarray float32
    int64 int float len str tuple list dict min max range isinstance super float long int bool
    clone copy astype item unsqueeze squeeze view reshape permute transpose numpy tolist get
    type_as contiguous to zeros ones getattr hasattr round abs stack cat""".split()
)
