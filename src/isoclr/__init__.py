"""isoclr: contrastive learning of mature-RNA representations over splice isoforms and homologs."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Embedder", "__version__"]


def __getattr__(name: str) -> Any:
    """``from isoclr import Embedder`` without importing torch on ``import isoclr``."""
    if name == "Embedder":
        from isoclr.evaluate.embedder import Embedder

        return Embedder
    raise AttributeError(f"module 'isoclr' has no attribute {name!r}")
