"""A half-life head in CPU minutes: a frozen pre-trained encoder + a ridge readout, kept as a
head folder (isoclr.evaluate.heads) so that it can be attributed end to end.

The readout is the linear probe of the evaluation (isoclr-linear): ridge on the embeddings of
the fold's training rows, alpha chosen by Pearson r on its validation rows. Usage::

    python benchmarks/halflife_probe_head.py --task TASK.h5 --checkpoint CHECKPOINT.pt --fold 0 --out HEAD/
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.linear_model import Ridge

from isoclr.evaluate.embedder import embed_store
from isoclr.evaluate.finetune import EncoderWithHead
from isoclr.evaluate.heads import save_head
from isoclr.evaluate.jobs import load_task, task_store_path
from isoclr.pretrain.model import load_encoder
from isoclr.store.format import IsoformStore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t, c = time.time(), time.process_time()
    task = load_task(args.task)
    store = IsoformStore(task_store_path(task, args.task))
    enc, info = load_encoder(args.checkpoint)
    h = embed_store(enc, store, np.asarray(task.transcript), batch_size=32, device="cpu")
    tr, va, te = task.split(args.fold, 1.0)
    y = np.asarray(task.y, dtype=float)
    best = None
    for alpha in 10.0 ** np.arange(-3, 5):
        m = Ridge(alpha=alpha).fit(h[tr], y[tr])
        r = pearsonr(m.predict(h[va]), y[va])[0]
        if best is None or r > best[0]:
            best = (r, alpha, m)
    r, alpha, m = best
    p = m.predict(h[te])
    metrics = {"pearson": float(pearsonr(p, y[te])[0]), "spearman": float(spearmanr(p, y[te])[0]),
               "mse": float(np.mean((p - y[te]) ** 2))}
    net = EncoderWithHead(enc, 1, 0.0)
    with torch.no_grad():
        net.head.weight.copy_(torch.tensor(m.coef_, dtype=torch.float32)[None])
        net.head.bias.fill_(float(m.intercept_))
    save_head(net, args.out, task=str(task.attrs["task"]), kind="regression", label_names=task.label_names,
              fold=args.fold, fraction=1.0, model="isoclr-linear (ridge on the frozen encoder)",
              objective=str(info.get("objective", "")),
              extra={"n_train": len(tr), "ridge_alpha": float(alpha), "validation_pearson": float(r),
                     "test_metrics": metrics, "encoder_checkpoint": args.checkpoint})
    print(f"{args.out}: alpha {alpha:g}, validation r {r:.3f}, test {metrics}; "
          f"{time.time() - t:.0f} s wall, {time.process_time() - c:.0f} s CPU")


if __name__ == "__main__":
    main()
