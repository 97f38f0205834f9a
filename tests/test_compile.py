"""torch.compile over a whole epoch compiles a handful of graphs, not one per batch shape.

Dynamo decides the graph count (its guards), the backend only turns a graph into code, so the
test compiles with the ``aot_eager`` backend (Dynamo + AOTAutograd, forward and backward
graphs, no Inductor code generation): the same graph count as Inductor at a fraction of the
CPU time. ``benchmarks/check_gpu.py`` compiles with Inductor and compares losses.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

from isoclr.pretrain import loader as L
from isoclr.pretrain import model
from isoclr.pretrain import loop as P
from isoclr.simulate import SimConfig, write_simulation


def test_bucket_widths_are_few_multiples_of_32_with_bounded_padding() -> None:
    widths = np.arange(1, 30_000)
    b = L.bucket_widths(widths, 8)
    assert np.all(b >= widths) and np.all(b % 32 == 0)
    big = widths >= 256
    assert np.all(b[big] <= widths[big] * (1 + 1 / 8))  # at most 1/8 more positions
    assert len(np.unique(b)) <= 8 * 10  # 8 per octave over ~10 octaves
    assert list(L.bucket_widths([1, 33, 100, 1025], 0)) == [32, 64, 128, 1056]


def test_collate_pads_to_the_bucket_width() -> None:
    seqs = [np.ones(5, np.uint8), np.ones(40, np.uint8)]
    out = L.collate(seqs, [np.zeros(5, np.uint8), np.zeros(40, np.uint8)], width=64)
    assert out["codes"].shape == (2, 64) and out["lengths"].tolist() == [5, 40]


@pytest.mark.slow
def test_compiled_epoch_compiles_at_most_eight_graphs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = write_simulation(SimConfig(seed=3, n_families=60), tmp_path / "sim")
    compile_model = model.compile_model
    monkeypatch.setattr(model, "compile_model",
                        lambda m, device, **kw: compile_model(m, device, backend="aot_eager", **kw))
    _, cfg = P.resolve({"size": "tiny", "compile": True, "batch_size": 4, "length_groups": 2, "steps": 1,
                        "warmup_steps": 1, "num_workers": 0, "val_batches": 2, "threads": 1, "seed": 2,
                        "sets": str(sim["sets"]), "splits": str(sim["splits"])})
    data = P.training_data(cfg, 1, 0)
    epoch = data["train"].batches_per_epoch()
    # the shapes the encoder sees over the epoch: one graph each without bucketing and a
    # symbolic width (the old behaviour)
    shapes = set()
    for spec in data["train"].epoch_batches(0):
        batch = data["dataset"][spec]
        shapes.add(tuple(tuple(g["codes"].shape) for g in batch["groups"]))
    assert len(shapes) > 8, f"the epoch must hold more than 8 batch shapes to test anything ({len(shapes)})"
    torch._dynamo.reset()
    counters.clear()
    cfg = dataclasses.replace(cfg, steps=epoch)  # one full epoch, then the final validation (eval-mode graphs)
    with torch._dynamo.config.patch(recompile_limit=64):  # never fall back silently
        P.pretrain(cfg, tmp_path / "run")
    graphs = counters["stats"]["unique_graphs"]
    print(f"{graphs} graphs for {len(shapes)} batch shapes over {epoch} batches")
    assert 1 <= graphs <= 8, f"{graphs} graphs compiled over an epoch of {len(shapes)} batch shapes"
    assert not counters["stats"].get("fail_and_fallback"), dict(counters["stats"])
