"""torchlint: find PyTorch code that leaves the GPU idle or starved."""

__version__ = "0.1.0"
