"""Gradient accumulation under DDP (two CPU processes, gloo): one gradient all-reduce per
optimiser step, not one per micro-batch, and the same weights as all-reducing every micro-batch.

Each process runs :func:`isoclr.pretrain.loop.pretrain` twice with ``accumulate=2``: once as it
is (``no_sync`` on all but the last micro-batch), once with ``no_sync`` disabled (every
micro-batch's backward all-reduces, as a loop without ``no_sync`` does). A DDP communication hook
counts the gradient all-reduces; wrappers around ``torch.distributed.all_reduce`` and
``all_gather`` count the loop's own collectives (by calling module). The two runs' weights agree to float round-off (the
average of sums against the sum of averages: a missing gradient sync would differ by O(lr));
the counts are exact.

This file is also the worker script: ``python tests/test_ddp_accumulate.py RANK WORLD PORT CONFIG OUT``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

SRC = Path(__file__).resolve().parents[1] / "src"
SHORT = {"first_exon": (80, 120), "last_exon": (120, 180), "exon_length": (45, 90), "exons_min": 3, "exons_max": 4,
         "utr5": (20, 40), "utr3_min": 30, "motif_copies": 1}
STEPS, ACCUMULATE, LOG_EVERY = 4, 2, 2
MODES = ("no_sync", "sync_every_micro_batch")


def _worker(rank: int, world: int, port: int, config: str, out: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    counts: dict[str, int] = {}
    all_reduce, all_gather = dist.all_reduce, dist.all_gather

    def counted(collective):  # counts the calls of a collective by calling module
        def call(*args, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__", "?")
            counts[caller] = counts.get(caller, 0) + 1
            return collective(*args, **kwargs)
        return call

    def counting_hook(group, bucket):  # DDP's default all-reduce, counted
        counts["gradient buckets"] = counts.get("gradient buckets", 0) + 1
        fut = all_reduce(bucket.buffer().div_(world), group=group, async_op=True).get_future()
        return fut.then(lambda f: f.value()[0])

    class CountedDDP(DistributedDataParallel):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.register_comm_hook(dist.group.WORLD, counting_hook)

    dist.all_reduce, dist.all_gather = counted(all_reduce), counted(all_gather)
    torch.nn.parallel.DistributedDataParallel = CountedDDP  # the loop builds DDP through this name
    from isoclr.pretrain import loop as P

    _, s = P.resolve(yaml.safe_load(Path(config).read_text()))
    result = {}
    for mode in MODES:
        counts.clear()
        if mode == "sync_every_micro_batch":
            CountedDDP.no_sync = lambda self: contextlib.nullcontext()  # type: ignore[method-assign]
        final = P.pretrain(s, Path(out) / mode)
        result[mode] = dict(counts)
        if rank == 0:
            state = torch.load(final, map_location="cpu", weights_only=True)
            torch.save({"encoder": state["encoder"], "projector": state["projector"]}, Path(out) / f"{mode}.pt")
    (Path(out) / f"counts{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_accumulation_all_reduces_once_per_step_and_trains_the_same(tmp_path: Path) -> None:
    from isoclr.simulate import SimConfig, write_simulation

    sim = write_simulation(SimConfig(seed=5, n_families=48, **SHORT), tmp_path / "sim")
    cfg = {"objective": "dcl", "size": "tiny", "batch_size": 8, "accumulate": ACCUMULATE, "steps": STEPS,
           "warmup_steps": 1, "lr": 3e-3, "num_workers": 0, "log_every": LOG_EVERY, "val_every": 100,
           "val_batches": 1, "checkpoint_every": 100, "progress_every": 100, "threads": 1, "seed": 11,
           "device": "cpu", "sets": str(sim["sets"]), "splits": str(sim["splits"])}
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(cfg))
    world, port = 2, _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ISOCLR_PROGRESS_BAR": "0",
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, __file__, str(r), str(world), str(port), str(config), str(tmp_path)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in range(world)]
    for p in procs:
        output, _ = p.communicate(timeout=600)
        assert p.returncode == 0, output[-4000:]
    counts = [json.loads((tmp_path / f"counts{r}.json").read_text()) for r in range(world)]
    assert counts[0] == counts[1]  # every collective is called by every rank
    fast, slow = counts[0]["no_sync"], counts[0]["sync_every_micro_batch"]
    buckets = slow["gradient buckets"] // (STEPS * ACCUMULATE)
    assert buckets >= 1 and slow["gradient buckets"] == STEPS * ACCUMULATE * buckets
    assert fast["gradient buckets"] == STEPS * buckets  # one gradient all-reduce per optimiser step
    # the loop's own collectives (the loss, read at the logged steps 2 and 4; the validation
    # loss at the last step, one batch), never one per micro-batch; the encoder's batch norm
    # (isoclr.pretrain.model) and the loss's negatives (isoclr.pretrain.losses) are the model's
    loop_calls = sum(v for k, v in fast.items() if k.startswith("isoclr.pretrain.")
                     and k not in ("isoclr.pretrain.losses", "isoclr.pretrain.model"))
    assert loop_calls == STEPS // LOG_EVERY + 1, fast
    a = torch.load(tmp_path / "no_sync.pt", weights_only=True)
    b = torch.load(tmp_path / "sync_every_micro_batch.pt", weights_only=True)
    for part in ("encoder", "projector"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            torch.testing.assert_close(a[part][key], b[part][key], rtol=1e-4, atol=1e-5, msg=f"{part}.{key}")


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
