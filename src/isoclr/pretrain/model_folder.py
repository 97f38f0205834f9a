"""A shareable model folder: ``model.safetensors`` + ``config.json`` + ``README.md`` (model card).

A training checkpoint (``checkpoint.pt``) holds optimiser, sampler and RNG state and is read
only by this project. The model folder is what a user downloads:

================== ====================================================================
file               content
================== ====================================================================
model.safetensors  the encoder (``encoder.*``) and projector (``projector.*``) weights;
                   safetensors (no pickle: reading it runs no code)
config.json        ``format`` (``isoclr-model``), ``format_version``, ``isoclr_version``,
                   ``architecture`` (the resolved encoder config), ``objective``, ``tracks``
                   and ``input`` (the input conventions), ``embedding_dim``, ``weights``
                   (file name and sha256), ``training`` (steps, final losses, data counts)
README.md          the model card: training data, settings, steps and losses, the study's
                   evaluation when given, intended use and limitations, how to load, citation
================== ====================================================================

Every pre-training writes ``{out}/model/`` at its end (:func:`write_after_pretrain`);
``isoclr export-model CHECKPOINT OUT/`` makes one from any checkpoint.
:func:`load_model_folder` reads it back (``Embedder.from_pretrained`` uses it) and refuses,
with a :class:`ModelFolderError` naming the file and what is wrong, a ``config.json`` that is
not exactly what this module writes (unknown keys, wrong types, absurd sizes) and a tensor
file that is not the one ``config.json`` names (sha256), not safetensors, or whose tensors do not
match the architecture. Fine-tuned task heads (:mod:`isoclr.evaluate.heads`) use the same
reader and writer with ``format`` ``isoclr-head``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from isoclr import __version__
from isoclr.pretrain.architecture import ARCH_KEYS, DOWNSAMPLE, SIZES, resolve_config

log = logging.getLogger(__name__)

MODEL_FORMAT = "isoclr-model"
HEAD_FORMAT = "isoclr-head"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "README.md"
#: the largest config.json read (a crafted multi-gigabyte file is refused before parsing)
MAX_CONFIG_BYTES = 1 << 20
#: the paper the method comes from (the model card cites it)
PAPER = {
    "authors": "Fradkin, Philip and Shi, Ruian and Wang, Bo and Frey, Brendan and Lee, Leo J.",
    "title": "Splicing up your predictions with RNA contrastive learning",
    "arxiv": "2310.08738",
    "year": 2023,
}

#: the six input tracks (isoclr.core.encoding), in channel order
TRACKS = [
    {"channel": 0, "name": "A", "meaning": "one-hot A"},
    {"channel": 1, "name": "C", "meaning": "one-hot C"},
    {"channel": 2, "name": "G", "meaning": "one-hot G"},
    {"channel": 3, "name": "T", "meaning": "one-hot T (U read as T); N and other IUPAC codes: all four zero"},
    {"channel": 4, "name": "codon", "meaning": "1 on the first nucleotide of every codon, CDS start to CDS end "
                                              "(stop codon included); all zero for non-coding RNA"},
    {"channel": 5, "name": "splice", "meaning": "1 on the last nucleotide of every exon, the transcript's last "
                                               "nucleotide included; all zero when exons are unknown"},
]
INPUT = {
    "sequence": "mature transcript (spliced exons, 5' to 3', DNA or RNA letters, case-insensitive)",
    "layout": "float32 tensor (batch, 6, length) plus the true lengths (batch,); right padding with zeros",
    "padding_invariant": True,
    "downsample": DOWNSAMPLE,
    "pooling": "mean over the ceil(length / 32) valid positions of the last stage",
    "cds": "0-based half-open [start, end) in transcript coordinates, stop codon included",
}

# -- errors and reading ---------------------------------------------------------------------------


class ModelFolderError(ValueError):
    """A model or head folder that this module did not write, or that was changed since."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {k!r} appears twice")
        out[k] = v
    return out


def read_config(folder: str | os.PathLike[str], kind: str = MODEL_FORMAT) -> dict[str, Any]:
    """``config.json`` of a folder, checked to be a ``kind`` config of a version this reads."""
    path = Path(folder) / CONFIG
    if not Path(folder).is_dir():
        raise ModelFolderError(f"{folder}: not a folder (a model folder holds {WEIGHTS}, {CONFIG}, {CARD})")
    if not path.is_file():
        raise ModelFolderError(f"{path}: missing (not an isoclr model folder)")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ModelFolderError(f"{path}: refused: {path.stat().st_size} bytes, more than a config can be "
                               f"({MAX_CONFIG_BYTES})")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicates,
                         parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as err:
        raise ModelFolderError(f"{path}: refused: not valid JSON ({err})") from err
    if not isinstance(cfg, dict):
        raise ModelFolderError(f"{path}: refused: expected a JSON object, got {type(cfg).__name__}")
    if cfg.get("format") != kind:
        raise ModelFolderError(f"{path}: refused: format {cfg.get('format')!r}, expected {kind!r}")
    version = cfg.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version != FORMAT_VERSION:
        raise ModelFolderError(f"{path}: refused: format_version {version!r}; this isoclr "
                               f"({__version__}) reads version {FORMAT_VERSION}")
    return cfg


def _int_list(value: Any, key: str, lo: int, hi: int, where: str, length: tuple[int, int] = (1, 16)) -> list[int]:
    if not isinstance(value, list) or not length[0] <= len(value) <= length[1]:
        raise ModelFolderError(f"{where}: {key} must be a list of {length[0]}-{length[1]} integers, got {value!r}")
    for v in value:
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise ModelFolderError(f"{where}: {key} entries must be integers in [{lo}, {hi}], got {value!r}")
    return value


def _int(value: Any, key: str, lo: int, hi: int, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ModelFolderError(f"{where}: {key} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def check_architecture(arch: Any, where: str) -> dict[str, Any]:
    """The resolved encoder architecture of a config, every key known and every size sane."""
    if not isinstance(arch, dict):
        raise ModelFolderError(f"{where}: architecture must be an object, got {type(arch).__name__}")
    unknown = sorted(set(arch) - {"size", *ARCH_KEYS})
    if unknown:
        raise ModelFolderError(f"{where}: architecture has unknown key(s) {unknown}")
    missing = sorted({"size", *ARCH_KEYS} - set(arch))
    if missing:
        raise ModelFolderError(f"{where}: architecture lacks key(s) {missing}")
    if arch["size"] not in SIZES:
        raise ModelFolderError(f"{where}: architecture size {arch['size']!r} is not one of {sorted(SIZES)}")
    _int(arch["in_channels"], "in_channels", 6, 6, where)
    _int(arch["stem_width"], "stem_width", 1, 4096, where)
    _int(arch["kernel_size"], "kernel_size", 1, 64, where)
    _int(arch["h_dim"], "h_dim", 1, 65536, where)
    widths = _int_list(arch["widths"], "widths", 1, 4096, where)
    _int_list(arch["blocks"], "blocks", 1, 64, where, (len(widths), len(widths)))
    _int_list(arch["dilations"], "dilations", 1, 4096, where, (len(widths), len(widths)))
    _int_list(arch["projector"], "projector", 1, 65536, where)
    d = arch["dropout"]
    if not isinstance(d, (int, float)) or isinstance(d, bool) or not 0.0 <= float(d) < 1.0:
        raise ModelFolderError(f"{where}: dropout must be a number in [0, 1), got {d!r}")
    try:
        resolved = resolve_config(arch)
    except ValueError as err:
        raise ModelFolderError(f"{where}: {err}") from err
    if resolved != {**arch, "dropout": float(d)}:
        raise ModelFolderError(f"{where}: architecture is not a resolved config")
    return resolved


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_tensors(folder: str | os.PathLike[str], cfg: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The tensors of ``model.safetensors``, after checking it is the file ``config.json`` names."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(folder) / WEIGHTS
    weights = cfg.get("weights")
    if not isinstance(weights, dict) or weights.get("file") != WEIGHTS or not isinstance(weights.get("sha256"), str):
        raise ModelFolderError(f"{Path(folder) / CONFIG}: refused: 'weights' must name {WEIGHTS} and its sha256")
    if not path.is_file():
        raise ModelFolderError(f"{path}: missing")
    raw = path.read_bytes()  # checked and parsed from the same bytes (and no mmap of a file that may change)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != weights["sha256"]:
        raise ModelFolderError(f"{path}: refused: sha256 {digest[:12]}... is not the {weights['sha256'][:12]}... "
                               f"that {CONFIG} names (the file was replaced or damaged)")
    try:
        tensors = load(raw)
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise ModelFolderError(f"{path}: refused: not a safetensors file ({err})") from err
    for name, t in tensors.items():
        if t.dtype not in (torch.float32, torch.float16, torch.bfloat16, torch.int64):
            raise ModelFolderError(f"{path}: refused: tensor {name} has dtype {t.dtype}")
    return tensors


def load_state(module: torch.nn.Module, tensors: Mapping[str, torch.Tensor], prefix: str, where: str) -> None:
    """Load ``prefix.*`` tensors into ``module``: the exact keys, shapes and float dtypes it has."""
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    want = module.state_dict()
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    if missing or extra:
        raise ModelFolderError(f"{where}: refused: tensors do not match the architecture in {CONFIG} "
                               f"(missing {[prefix + k for k in missing][:5]}, unexpected "
                               f"{[prefix + k for k in extra][:5]})")
    for k, v in want.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise ModelFolderError(f"{where}: refused: tensor {prefix}{k} has shape {tuple(state[k].shape)}, "
                                   f"the architecture needs {tuple(v.shape)}")
        if state[k].is_floating_point() != v.is_floating_point():
            raise ModelFolderError(f"{where}: refused: tensor {prefix}{k} has dtype {state[k].dtype}, expected {v.dtype}")
    module.load_state_dict({k: state[k].to(want[k].dtype) for k in want})


# -- writing ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_folder(out: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary sibling folder, renamed onto ``out`` on success (an old ``out`` is replaced)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    try:
        yield tmp
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes 0700; the usual umask-based modes
        for f in tmp.iterdir():
            os.chmod(f, 0o666 & ~mask)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / out.name)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _plain_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_folder(out: str | os.PathLike[str], tensors: Mapping[str, torch.Tensor], config: Mapping[str, Any],
                 card: str | None = None) -> Path:
    """Write ``model.safetensors``, ``config.json`` (with the weights' sha256) and the card, atomically."""
    from safetensors.torch import save_file

    out = Path(out)
    with atomic_folder(out) as tmp:
        plain = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
        # one metadata key: safetensors writes metadata in hash order, so more would change the bytes
        save_file(plain, str(tmp / WEIGHTS), metadata={"format": "pt"})
        cfg = {**config, "weights": {"file": WEIGHTS, "sha256": file_sha256(tmp / WEIGHTS),
                                     "tensors": len(plain)}}
        (tmp / CONFIG).write_text(json.dumps(_plain_json(cfg), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        if card is not None:
            (tmp / CARD).write_text(card, encoding="utf-8")
    return out


def encoder_block(model_config: Mapping[str, Any], objective: str) -> dict[str, Any]:
    """The encoder's description shared by model and head configs."""
    arch = resolve_config(model_config)
    return {"architecture": arch, "objective": str(objective), "tracks": TRACKS, "input": INPUT,
            "embedding_dim": int(arch["h_dim"])}


def training_data(sets: str | os.PathLike[str] | None, splits: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Species, transcripts and sets per split of a run's ``sets.h5`` and ``splits.tsv`` ({} if absent)."""
    import h5py
    import pandas as pd

    if not sets or not Path(sets).is_file():
        return {}
    with h5py.File(sets, "r") as f:
        species = [str(s.decode() if isinstance(s, bytes) else s) for s in f.attrs.get("species", [])]
        offset = f["sets/offset"][:]
        member_species = f["members/species"][:]
    n_sets = len(offset) - 1
    set_of_member = np.repeat(np.arange(n_sets), np.diff(offset))
    split_of_set = np.full(n_sets, "all", dtype=object)
    if splits and Path(splits).is_file():
        table = pd.read_csv(splits, sep="\t")
        ids = table["set_id"].to_numpy(dtype=np.int64)
        ok = (ids >= 0) & (ids < n_sets)
        split_of_set[ids[ok]] = table["split"].to_numpy(dtype=object)[ok]
    out: dict[str, Any] = {"species": species, "sets": int(n_sets), "transcripts": len(member_species),
                           "splits": {}}
    member_split = split_of_set[set_of_member]
    for split in sorted(set(split_of_set)):
        sel = member_split == split
        out["splits"][str(split)] = {
            "sets": int((split_of_set == split).sum()),
            "transcripts": int(sel.sum()),
            "transcripts_per_species": {sp: int((member_species[sel] == k).sum()) for k, sp in enumerate(species)},
        }
    return out


def final_losses(metrics_csv: str | os.PathLike[str] | None) -> dict[str, float]:
    """The last training loss and last validation loss (with alignment, uniformity) of ``metrics.csv``."""
    import pandas as pd

    if not metrics_csv or not Path(metrics_csv).is_file():
        return {}
    m = pd.read_csv(metrics_csv)
    out: dict[str, float] = {}
    for col in ("loss", "val_loss", "val_alignment", "val_uniformity"):
        if col in m.columns and m[col].notna().any():
            out[col] = float(m[col].dropna().iloc[-1])
    return out


def evaluation_summary(summary: str | os.PathLike[str] | None, models: list[str]) -> list[dict[str, Any]]:
    """Rows of a study's ``tables/summary.tsv`` for ``models``, full training data, test split."""
    import pandas as pd

    if not summary or not Path(summary).is_file():
        return []
    t = pd.read_csv(summary, sep="\t")
    sel = t["model"].isin(models) & (t["split"] == "test") & (t["fraction"].astype(float) == 1.0)
    cols = ["task", "model", "metric", "n_runs", "mean", "sd", "ci95_low", "ci95_high"]
    return [_plain_json(r) for r in t.loc[sel, cols].to_dict("records")]


def model_folder_config(ckpt: Mapping[str, Any], checkpoint: str | os.PathLike[str], name: str | None = None,
                        summary: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The ``config.json`` of a checkpoint (without the weights entry, added when written)."""
    run = ckpt.get("config") if isinstance(ckpt.get("config"), dict) else {}
    name = name or str(run.get("name") or Path(checkpoint).parent.name)
    objective = str(ckpt.get("objective", ""))
    data = training_data(run.get("sets"), run.get("splits"))
    settings = {k: run[k] for k in ("objective", "size", "seed", "batch_size", "accumulate", "lr", "weight_decay",
                                     "schedule", "warmup_steps", "temperature", "weight_c", "mask_prob",
                                     "grad_clip", "resolved_steps", "steps_per_epoch") if k in run}
    eval_models = ["isoclr-linear", "isoclr-finetune"] if objective in ("dcl", "ntxent") else ["mlm-linear"]
    eval_models.append(f"pretrained-{name}-linear")
    return {
        "format": MODEL_FORMAT, "format_version": FORMAT_VERSION, "isoclr_version": __version__,
        "name": name, **encoder_block(ckpt["model_config"], objective),
        "projector": ckpt.get("projector") is not None,
        # the tracks pre-training zeroed (config encoding.drop_tracks): inputs must zero them too
        "drop_tracks": sorted(str(x) for x in (run.get("drop_tracks") or [])),
        "training": {
            "step": int(ckpt.get("step", 0)), "epoch": int(ckpt.get("epoch", 0)),
            "final_losses": final_losses(Path(checkpoint).parent / "metrics.csv"),
            "settings": settings, "data": data,
            "data_sha256": dict((ckpt.get("fingerprint") or {}).get("data") or {}),
        },
        "evaluation": evaluation_summary(summary, eval_models),
    }


def write_model_folder(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str], *, name: str | None = None,
                       summary: str | os.PathLike[str] | None = None) -> Path:
    """The model folder of a pre-training checkpoint (``isoclr export-model``).

    ``summary``: a study's ``tables/summary.tsv``, whose full-data test rows of this encoder's
    models go into the card. ``metrics.csv`` beside the checkpoint gives the final losses.
    """
    from isoclr.pretrain.model import load_checkpoint

    ckpt = load_checkpoint(checkpoint, map_location="cpu")
    if not isinstance(ckpt, dict) or "model_config" not in ckpt or "encoder" not in ckpt:
        raise ValueError(f"{checkpoint}: not an isoclr checkpoint (needs the keys 'model_config' and 'encoder')")
    tensors = {f"encoder.{k.removeprefix('module.')}": v for k, v in ckpt["encoder"].items()}
    tensors.update({f"projector.{k.removeprefix('module.')}": v for k, v in (ckpt.get("projector") or {}).items()})
    cfg = model_folder_config(ckpt, checkpoint, name, summary)
    path = write_folder(out, tensors, cfg, model_card(cfg))
    log.info("model folder %s (%d tensors) from %s", path, len(tensors), checkpoint)
    return path


def write_after_pretrain(out: str | os.PathLike[str]) -> Path:
    """The hook at the end of pre-training: ``{out}/model/`` from ``{out}/checkpoint.pt``."""
    return write_model_folder(Path(out) / "checkpoint.pt", Path(out) / "model")


# -- loading ---------------------------------------------------------------------------------------


def load_model_folder(folder: str | os.PathLike[str], map_location: str | torch.device = "cpu"
                      ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """``(encoder, config)``: the frozen encoder (eval mode, no gradients) of a model folder."""
    from isoclr.pretrain.model import build_encoder

    cfg = read_config(folder, MODEL_FORMAT)
    arch = check_architecture(cfg.get("architecture"), str(Path(folder) / CONFIG))
    tensors = read_tensors(folder, cfg)
    encoder = build_encoder(arch)
    load_state(encoder, tensors, "encoder.", str(Path(folder) / WEIGHTS))
    encoder.eval().requires_grad_(False)
    return encoder.to(map_location), cfg


def load_projector(folder: str | os.PathLike[str]) -> torch.nn.Module:
    """The projector ``g`` of a model folder (eval mode); ModelFolderError when it has none."""
    from isoclr.pretrain.model import build_projector

    cfg = read_config(folder, MODEL_FORMAT)
    arch = check_architecture(cfg.get("architecture"), str(Path(folder) / CONFIG))
    if not cfg.get("projector"):
        raise ModelFolderError(f"{Path(folder) / CONFIG}: this model has no projector (objective {cfg.get('objective')})")
    tensors = read_tensors(folder, cfg)
    proj = build_projector(arch, arch["h_dim"])
    load_state(proj, tensors, "projector.", str(Path(folder) / WEIGHTS))
    return proj.eval().requires_grad_(False)


# -- the model card --------------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def model_card(cfg: Mapping[str, Any]) -> str:
    """The README.md of a model folder (YAML front matter as model hubs read it, then Markdown)."""
    arch, tr = cfg["architecture"], cfg["training"]
    data, losses, settings = tr.get("data") or {}, tr.get("final_losses") or {}, tr.get("settings") or {}
    from isoclr.pretrain.architecture import encoder_parameters, projector_parameters

    obj = {"dcl": "decoupled contrastive loss (DCL) over splice isoforms and homologous genes",
           "ntxent": "NT-Xent contrastive loss over splice isoforms and homologous genes",
           "mlm": "masked-nucleotide modelling (MLM baseline)"}.get(cfg["objective"], cfg["objective"])
    lines = [
        "---", "library_name: isoclr", "license: mit", "tags:", "- biology", "- rna", "- mrna",
        "- contrastive-learning", "- isoclr", "pipeline_tag: feature-extraction", "---", "",
        f"# {cfg['name']}: IsoCLR mature-RNA encoder ({arch['size']}, {cfg['objective']})", "",
        (f"A dilated residual 1-D CNN that maps a mature transcript (six input tracks) to a "
         f"{cfg['embedding_dim']}-dimensional embedding, pre-trained with the {obj} "
         f"(the IsoCLR method, Fradkin et al. 2023, arXiv:{PAPER['arxiv']}). Written by isoclr "
         f"{cfg['isoclr_version']}."), "",
        "## Architecture", "",
        "| | |", "|---|---|",
        f"| encoder parameters | {encoder_parameters(arch):,} |",
        f"| projector parameters | {projector_parameters(arch):,} ({'included' if cfg.get('projector') else 'none'}) |",
        f"| stem / stage widths | {arch['stem_width']} / {arch['widths']} |",
        f"| blocks per stage / dilations | {arch['blocks']} / {arch['dilations']} |",
        f"| kernel size / dropout | {arch['kernel_size']} / {arch['dropout']} |",
        f"| embedding dimension | {cfg['embedding_dim']} (mean over the x{DOWNSAMPLE} down-sampled positions) |",
        "",
        "## Input", "",
        ("A float tensor `(batch, 6, length)` with the true lengths `(batch,)` (right padding does not "
         "change the embedding):"), "",
        *[f"- channel {t['channel']} ({t['name']}): {t['meaning']}" for t in cfg["tracks"]], "",
        "## Training data", "",
    ]
    if data:
        lines += [(f"Species: {', '.join(data.get('species', [])) or 'unknown'}; {data['sets']:,} transcript sets "
                   f"(isoform groups merged with their homologs), {data['transcripts']:,} transcripts."), "",
                  "| split | sets | transcripts | per species |", "|---|---:|---:|---|"]
        for split, d in data.get("splits", {}).items():
            per = ", ".join(f"{k} {v:,}" for k, v in d["transcripts_per_species"].items())
            lines.append(f"| {split} | {d['sets']:,} | {d['transcripts']:,} | {per} |")
        lines.append("")
    else:
        lines += ["The training sets were not available when this folder was written.", ""]
    if tr.get("data_sha256"):
        lines += ["Input files (sha256): " + "; ".join(f"{k} `{v[:12]}`" for k, v in tr["data_sha256"].items()), ""]
    lines += ["## Training", "", f"{tr['step']:,} optimiser steps ({tr['epoch']} epochs completed)."
              + (" Final losses: " + ", ".join(f"{k} {_fmt(v)}" for k, v in losses.items()) + "." if losses else ""),
              "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in settings.items()]
    lines += ["", "## Evaluation", ""]
    if cfg.get("evaluation"):
        lines += ["The study's results at full training data, test folds (mean over runs, 95 % CI):", "",
                  "| task | model | metric | runs | mean | 95 % CI |", "|---|---|---|---:|---:|---|"]
        for r in cfg["evaluation"]:
            lines.append(f"| {r['task']} | {r['model']} | {r['metric']} | {r['n_runs']} | {_fmt(r['mean'])} | "
                         f"{_fmt(r['ci95_low'])} to {_fmt(r['ci95_high'])} |")
    else:
        lines.append("No evaluation was attached when this folder was written (`isoclr export-model "
                     "--summary results/<study>/tables/summary.tsv` adds the study's).")
    lines += [
        "", "## Intended use and limitations", "",
        ("- Embeddings of mature mRNAs (spliced, 5' to 3') for linear probes or fine-tuning on "
         "transcript-level properties (half-life, localisation, GO terms, ribosome load)."),
        "- Research use only; not validated for clinical decisions.",
        "- Trained only on the species above; other clades and non-coding RNA are out of distribution.",
        ("- The coding and splice tracks matter: without a CDS or exon structure (a FASTA alone) the "
         "embedding differs from the annotated transcript's."),
        ("- Small and demo-sized models (few steps, simulated data) exercise the pipeline and carry "
         "no biology."), "",
        "## How to load", "", "```python",
        "from isoclr.evaluate.embedder import Embedder", "",
        "emb = Embedder.from_pretrained(\"path/to/this/folder\")",
        "df = emb.embed_sequences({\"tx1\": \"ATGGCC...\"})  # or embed_fasta / embed_genome / embed_store",
        "X = df.filter(regex=r\"^h_\").to_numpy()", "```", "",
        ("Without isoclr's helpers: `isoclr.pretrain.model_folder.load_model_folder(folder)` returns "
         "`(encoder, config)`; the tensors are plain safetensors (`encoder.*`, `projector.*`), readable "
         "with `safetensors.torch.load_file`."), "",
        "## Citation", "", "```bibtex",
        "@article{fradkin2023isoclr,",
        f"  title   = {{{PAPER['title']}}},",
        f"  author  = {{{PAPER['authors']}}},",
        f"  journal = {{arXiv preprint arXiv:{PAPER['arxiv']}}},",
        f"  year    = {{{PAPER['year']}}}",
        "}", "```", "",
    ]
    return "\n".join(lines)


# -- the command -----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="pre-training checkpoint (results/pretrain/MODEL/checkpoint.pt)")
    parser.add_argument("out", help="model folder to write (model.safetensors, config.json, README.md)")
    parser.add_argument("--name", default=None, help="model name in the card (default: the run's)")
    parser.add_argument("--summary", default=None,
                        help="a study's tables/summary.tsv: its full-data test rows of this model go into the card")


def run(args: argparse.Namespace) -> int:
    path = write_model_folder(args.checkpoint, args.out, name=args.name, summary=args.summary)
    print(f"{path}: {WEIGHTS}, {CONFIG}, {CARD}")
    return 0
