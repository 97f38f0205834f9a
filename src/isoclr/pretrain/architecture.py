"""The encoder's architecture as plain data: presets, the resolved config, parameter counts.

Torch-free (and numpy-free), so the Snakefile and isoclr.config.settings can use it: a figure's
parameter counts (fig_model_sizes) are worked out from the architecture when the workflow is
planned, without building a model. :mod:`isoclr.pretrain.model` builds the modules from the same
:func:`resolve_config`, and tests/test_model.py checks :func:`encoder_parameters` against
``count_parameters(build_encoder(cfg))`` for every preset and for overrides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: input tracks of the encoder (isoclr.core.encoding.N_TRACKS; tests/test_model.py checks they agree)
N_TRACKS = 6

#: Total down-sampling of the encoder (stem pool + one pool per stage).
DOWNSAMPLE = 32

#: Architecture presets. Every key can be overridden in the model config.
SIZES: dict[str, dict[str, Any]] = {
    # CPU demo and tests: ~30 k encoder parameters.
    "tiny": {
        "stem_width": 16,
        "widths": [16, 32, 32, 64],
        "blocks": [1, 1, 1, 1],
        "dilations": [1, 2, 4, 8],
        "kernel_size": 2,
        "dropout": 0.1,
        "projector": [64, 64, 32],
    },
    # The paper's small encoder (Fradkin et al. 2023, arXiv:2310.08738): widths (64,128,128,256),
    # blocks (2,2,2,2), h 256, about 0.9 M parameters.
    "small": {
        "stem_width": 64,
        "widths": [64, 128, 128, 256],
        "blocks": [2, 2, 2, 2],
        "dilations": [1, 2, 4, 8],
        "kernel_size": 2,
        "dropout": 0.1,
        "projector": [2048, 2048, 512],
    },
    # The paper's medium encoder: widths (64,128,256,512), blocks (3,4,6,3), h 512, about 5 M.
    "medium": {
        "stem_width": 64,
        "widths": [64, 128, 256, 512],
        "blocks": [3, 4, 6, 3],
        "dilations": [1, 2, 4, 8],
        "kernel_size": 2,
        "dropout": 0.1,
        "projector": [2048, 2048, 512],
    },
    # "~10 M large" of the figures (architecture not given): medium's depth, 1.5x medium's
    # widths in stages 1-3 and 768 in stage 4 -> ~11.0 M encoder parameters, h 768.
    "large": {
        "stem_width": 96,
        "widths": [96, 192, 384, 768],
        "blocks": [3, 4, 6, 3],
        "dilations": [1, 2, 4, 8],
        "kernel_size": 2,
        "dropout": 0.1,
        "projector": [2048, 2048, 512],
    },
}

#: The paper's encoder sizes (Fradkin et al. 2023, arXiv:2310.08738) the presets are tested
#: against (+-15 %).
REFERENCE_PARAMS: dict[str, float] = {"small": 0.9e6, "medium": 5e6, "large": 10e6}

ARCH_KEYS = (
    "in_channels",
    "stem_width",
    "widths",
    "blocks",
    "dilations",
    "kernel_size",
    "dropout",
    "h_dim",
    "projector",
)


def resolve_config(model_cfg: Mapping[str, Any] | str | None = None) -> dict[str, Any]:
    """Preset (``size``, default ``small``) + overrides -> the full architecture dict.

    Keys other than ``size`` and :data:`ARCH_KEYS` (batch size, learning rate...) are ignored,
    so the whole ``pretrain.models.NAME`` entry can be passed. The result is what checkpoints
    store as ``model_config``; it rebuilds the same encoder even if the presets change later.
    """
    if model_cfg is None:
        model_cfg = {}
    if isinstance(model_cfg, str):
        model_cfg = {"size": model_cfg}
    size = model_cfg.get("size", "small")
    if size not in SIZES:
        raise ValueError(f"model config: unknown size {size!r}; choose one of {sorted(SIZES)}")
    cfg: dict[str, Any] = {"size": size, "in_channels": N_TRACKS, **SIZES[size]}
    for key in ARCH_KEYS:
        if key in model_cfg and model_cfg[key] is not None:
            cfg[key] = model_cfg[key]
    for key in ("widths", "blocks", "dilations", "projector"):
        cfg[key] = [int(v) for v in cfg[key]]
    if not (len(cfg["widths"]) == len(cfg["blocks"]) == len(cfg["dilations"])):
        raise ValueError(
            f"model config: widths {cfg['widths']}, blocks {cfg['blocks']} and dilations "
            f"{cfg['dilations']} must have one entry per stage"
        )
    if any(b < 1 for b in cfg["blocks"]) or int(cfg["kernel_size"]) < 1:
        raise ValueError(f"model config: blocks and kernel_size must be >= 1 (got {cfg})")
    if not 0.0 <= float(cfg["dropout"]) < 1.0:
        raise ValueError(f"model config: dropout must be in [0, 1), got {cfg['dropout']}")
    cfg["kernel_size"] = int(cfg["kernel_size"])
    cfg["stem_width"] = int(cfg["stem_width"])
    cfg["in_channels"] = int(cfg["in_channels"])
    cfg["dropout"] = float(cfg["dropout"])
    cfg["h_dim"] = int(cfg.get("h_dim") or cfg["widths"][-1])
    return cfg




def encoder_parameters(model_cfg: Mapping[str, Any] | str | None = None) -> int:
    """Parameters of the encoder ``f`` (:class:`isoclr.pretrain.model.Encoder`) of a model config.

    Stem: a bias-free conv (``in x stem x k``) and BN (2 per channel); each basic block: two
    bias-free convs (``in x w x k`` and ``w x w x k``) and two BNs, plus a 1x1 conv and BN on the
    shortcut when the widths differ; a bias-free linear head when ``h_dim`` differs from the
    last width. The projector and MLM head are not the encoder.
    """
    cfg = resolve_config(model_cfg)
    k = cfg["kernel_size"]
    c = cfg["stem_width"]
    n = cfg["in_channels"] * c * k + 2 * c
    for width, blocks in zip(cfg["widths"], cfg["blocks"]):
        for _ in range(blocks):
            n += c * width * k + width * width * k + 4 * width
            if c != width:
                n += c * width + 2 * width
            c = width
    if cfg["h_dim"] != c:
        n += c * cfg["h_dim"]
    return n


def projector_parameters(model_cfg: Mapping[str, Any] | str | None = None) -> int:
    """Parameters of the projector ``g`` (:class:`isoclr.pretrain.model.Projector`): bias-free linears,
    a BN (2 per channel) after each hidden one."""
    cfg = resolve_config(model_cfg)
    n, prev = 0, cfg["h_dim"]
    for d in cfg["projector"][:-1]:
        n += prev * d + 2 * d
        prev = d
    return n + prev * cfg["projector"][-1]
