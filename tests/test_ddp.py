"""Two-process DDP (CPU, gloo) equals one process over the same global batch.

Model: tiny encoder + projector with synchronised (masked) BN, DCL loss with set weights. The
global batch of 8 sets is split UNEQUALLY (5 + 3 sets), the two views of a set go through the
model in one forward (BN statistics over both views). Checked: the mean over ranks of the
returned loss equals the one-process loss, and the gradients after DDP's averaging equal the
one-process gradients, as do the BN running statistics (see the convention in losses.py).
Everything runs in float64, so the comparison is tight (rtol 1e-8).

This file is also the worker script: ``python tests/test_ddp.py RANK WORLD PORT OUT``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import torch
from torch import nn

SRC = Path(__file__).resolve().parents[1] / "src"
N_SETS, PADDED = 8, 192
SHARDS = [(0, 5), (5, 8)]  # sets per rank: unequal on purpose


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        from isoclr.pretrain.model import build_encoder, build_projector

        cfg = {"size": "tiny", "dropout": 0.0}
        self.encoder = build_encoder(cfg)
        self.projector = build_projector(cfg, self.encoder.out_dim)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(x, lengths))


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Global batch: views (N, 6, L) x2, their lengths, and per-set weights."""
    from isoclr.core.encoding import tracks_torch
    from isoclr.pretrain.losses import set_weights

    g = torch.Generator().manual_seed(7)
    xs, ls = [], []
    for _ in range(2):
        lengths = torch.randint(20, PADDED + 1, (N_SETS,), generator=g)
        codes = torch.randint(0, 5, (N_SETS, PADDED), generator=g, dtype=torch.uint8)
        marks = torch.randint(0, 4, (N_SETS, PADDED), generator=g, dtype=torch.uint8)
        codes[torch.arange(PADDED) >= lengths[:, None]] = 5
        marks[torch.arange(PADDED) >= lengths[:, None]] = 0
        xs.append(tracks_torch(codes, marks, dtype=torch.float64))
        ls.append(lengths)
    sizes = torch.randint(1, 12, (N_SETS,), generator=g)
    return xs[0], xs[1], ls[0], ls[1], set_weights(sizes)


def _step(model: nn.Module, lo: int, hi: int) -> torch.Tensor:
    from isoclr.pretrain.losses import dcl_loss

    x1, x2, l1, l2, w = _data()
    n = hi - lo
    z = model(torch.cat([x1[lo:hi], x2[lo:hi]]), torch.cat([l1[lo:hi], l2[lo:hi]]))
    loss = dcl_loss(z[:n], z[n:], w[lo:hi], temperature=0.1)
    loss.backward()
    return loss.detach()


def _worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from isoclr.pretrain.model import convert_sync_batchnorm

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
        timeout=timedelta(seconds=60),
    )
    torch.manual_seed(0)
    model = DDP(convert_sync_batchnorm(Net().double()))
    loss = _step(model, *SHARDS[rank])
    torch.save(
        {
            "loss": loss,
            "grads": {k: p.grad for k, p in model.module.named_parameters()},
            "buffers": dict(model.module.named_buffers()),
        },
        Path(out) / f"rank{rank}.pt",
    )
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ddp_matches_single_process(tmp_path: Path) -> None:
    world = 2
    port = _free_port()
    pythonpath = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(r), str(world), str(port), str(tmp_path)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for r in range(world)
    ]
    for p in procs:
        output, _ = p.communicate(timeout=120)
        assert p.returncode == 0, output
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(world)]

    torch.manual_seed(0)
    ref = Net().double()
    ref_loss = _step(ref, 0, N_SETS)
    ddp_loss = sum(r["loss"] for r in results) / world
    torch.testing.assert_close(ddp_loss, ref_loss, rtol=1e-10, atol=1e-12)
    for name, p in ref.named_parameters():
        assert p.grad is not None
        for r in results:
            torch.testing.assert_close(r["grads"][name], p.grad, rtol=1e-8, atol=1e-10, msg=name)
    for name, b in ref.named_buffers():
        for r in results:
            torch.testing.assert_close(r["buffers"][name], b, rtol=1e-8, atol=1e-10, msg=name)


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
