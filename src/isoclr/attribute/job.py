"""The pipeline's ``attribute`` job (rules/attribute.smk): one kept head's attributions.

For the head the evaluation kept for a task and network model (``eval/TASK/MODEL/frac1.0/
fold0.head/``), the job attributes the first ``attribute.transcripts`` test transcripts of fold
0 (rows the head never trained or validated on; or ``attribute.ids``) and writes:

* ``attributions/TASK/MODEL.h5``: per transcript and position, each method's contribution
  (:func:`isoclr.attribute.methods.write_attributions`);
* ``attributions/TASK/MODEL.figures/``: one PDF and PNG per transcript, for the first
  ``attribute.figures`` (the contribution track with 5'UTR / CDS / 3'UTR shaded and a logo of
  the strongest window);
* ``attributions/TASK/MODEL.elements.tsv`` and ``.kmers.tsv``: the 3'UTR reading
  (:mod:`isoclr.attribute.elements`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd


def transcript_rows(task: Any, n: int, ids: tuple[str, ...] | list[str], where: str) -> npt.NDArray[np.int64]:
    """Store rows to attribute: ``ids`` (each a transcript of the task) or the first ``n`` test
    rows of fold 0, in the task's order."""
    if ids:
        pos = {str(t): i for i, t in enumerate(np.asarray(task.transcript_id).astype(str))}
        missing = [i for i in ids if i not in pos]
        if missing:
            raise ValueError(f"{where}: attribute.ids names transcript(s) {', '.join(missing[:5])} that the task "
                             "does not hold")
        return np.asarray(task.transcript, dtype=np.int64)[[pos[i] for i in ids]]
    test = task.split(0, 1.0)[2]
    return np.asarray(task.transcript, dtype=np.int64)[test][: int(n)]


def _write_tsv(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    from isoclr.core.files import atomic_path

    with atomic_path(path, suffix=".tsv") as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")


def attribute_job(inputs: Any, outputs: Any, params: Any, log_path: str, rule: str = "attribute",
                  wildcards: Any = None, threads: int | None = None, resources: Any = None) -> None:
    """The ``attribute`` rule (plain values from ``workflow/scripts/attribute.py``);
    ``params.settings`` is :class:`isoclr.config.settings.attribute.AttributeSettings`."""
    import torch

    from isoclr.attribute.elements import element_table, kmer_table
    from isoclr.attribute.methods import attribute, safe_name, write_attributions
    from isoclr.config.settings.attribute import AttributeSettings
    from isoclr.core.logs import job_log
    from isoclr.evaluate.heads import load_head
    from isoclr.evaluate.jobs import load_task
    from isoclr.figures.attribution import draw_attribution
    from isoclr.pretrain.model_folder import atomic_folder
    from isoclr.store.format import IsoformStore

    log = job_log(log_path, rule, "attribute a kept head's predictions to nucleotides", wildcards=wildcards,
                  threads=threads, resources=resources, params=params)
    s = AttributeSettings.from_mapping(params.settings, "attribute")
    torch.set_num_threads(max(int(threads or 1), 1))
    head = load_head(inputs.head)
    task = load_task(inputs.task)
    rows = transcript_rows(task, s.transcripts, s.ids, str(inputs.task))
    att = attribute(head, IsoformStore(inputs.store), rows, s.methods, s.output, s.ig_steps, s.batch_tokens,
                    drop_tracks=s.drop_tracks)
    write_attributions(outputs.table, att)
    with atomic_folder(outputs.figures) as folder:
        for tid in att.transcripts["transcript_id"].iloc[: s.figures]:
            draw_attribution(att, str(tid), Path(folder) / f"{safe_name(str(tid))}.pdf")
    _write_tsv(element_table(att.table, s.methods), outputs.elements)
    _write_tsv(kmer_table(att.table, s.methods), outputs.kmers)
    secs = ", ".join(f"{m} {att.transcripts[f'seconds_{m}'].mean():.2f} s" for m in s.methods)
    log.info("%s %s: %d transcripts, %d positions (mean per transcript: %s); tracks zeroed: %s", s.task, s.model,
             len(att.transcripts), len(att.table), secs, ",".join(s.drop_tracks) or "none")
