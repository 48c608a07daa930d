"""torchlint: find PyTorch code that leaves the GPU idle or starved."""

__version__ = "0.2.0"
