"""External pre-trained RNA/DNA language models as frozen encoders (``external-{name}``).

Models are loaded through the Hugging Face ``transformers`` Auto classes; when the
``multimolecule`` package is installed it is imported first, which registers its models
(SpliceBERT, RNA-FM, RiNALMo, ...) with those Auto classes. Configure one in
``evaluation.external``::

    external:
      splicebert:
        source: multimolecule/splicebert   # hub name, or a local folder (save_pretrained)
        alphabet: rna                      # rna: T written as U; dna: as is
        max_length: null                   # nucleotides per window; default from the model
        batch_size: 8

Embedding of one transcript: its mature sequence (codes -> text, N kept as N) is cut into
consecutive windows that fit the model's maximum input (special tokens included), every window
is tokenised and run through the model, and the last hidden states of all real nucleotide
tokens (attention mask on, special tokens off) of all windows are averaged: a mean over the
transcript's true length. This assumes one token per nucleotide (true of multimolecule's RNA
tokenisers); for k-mer/BPE tokenisers the windows are still valid inputs, since those compress.

Installing multimolecule without pulling a CUDA build of torch (the package pins nothing, but
``danling[torch]`` and ``torchmetrics`` resolve torch again)::

    pip install transformers chanfig python-frontmatter datasets
    pip install --no-deps multimolecule danling torchmetrics lightning-utilities torchdata
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from tqdm import tqdm

from isoclr.core.devices import resolve_device
from isoclr.core.encoding import decode_sequence

log = logging.getLogger(__name__)


def _register_multimolecule() -> bool:
    try:
        import multimolecule  # noqa: F401  (registers its models with transformers' Auto classes)
    except ImportError:
        return False
    return True


def codes_to_text(codes: npt.NDArray[np.uint8], alphabet: str = "rna") -> str:
    """Codes to nucleotide text: ACGUN (``rna``) or ACGTN (``dna``)."""
    text = decode_sequence(codes)
    if alphabet == "rna":
        return text.replace("T", "U")
    if alphabet == "dna":
        return text
    raise ValueError(f"alphabet must be 'rna' or 'dna', got {alphabet!r}")


class ExternalEncoder:
    """A frozen transformers-style model that embeds transcripts by mean pooling (module doc)."""

    def __init__(
        self,
        source: str | os.PathLike[str],
        max_length: int | None = None,
        alphabet: str = "rna",
        device: torch.device | str = "cpu",
        trust_remote_code: bool = False,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.has_multimolecule = _register_multimolecule()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(source), trust_remote_code=trust_remote_code)
            self.model = AutoModel.from_pretrained(str(source), trust_remote_code=trust_remote_code)
        except (OSError, ValueError, KeyError) as err:
            hint = "" if self.has_multimolecule else " (multimolecule is not installed: see isoclr.evaluate.external)"
            raise ValueError(f"external encoder {source}: cannot load model/tokenizer: {err}{hint}") from err
        self.device = resolve_device(device)
        self.model.to(self.device).eval()
        self.model.requires_grad_(False)
        self.alphabet = alphabet
        self.source = str(source)
        self.window = int(max_length) if max_length else self._default_window()
        if self.window < 1:
            raise ValueError(f"external encoder {source}: window of {self.window} nucleotides")
        self.out_dim = int(self.model.config.hidden_size)

    def _default_window(self) -> int:
        limits = [int(self.tokenizer.model_max_length)] if self.tokenizer.model_max_length < 1e6 else []
        max_pos = getattr(self.model.config, "max_position_embeddings", None)
        if max_pos:
            limits.append(int(max_pos))
        if not limits:
            return 1024
        # Leave room for the special tokens and for position offsets (RoBERTa/ESM style).
        return min(limits) - self.tokenizer.num_special_tokens_to_add() - 2

    def _windows(self, codes_list: Sequence[npt.NDArray[np.uint8]]) -> tuple[list[str], npt.NDArray[np.int64]]:
        texts: list[str] = []
        owner: list[int] = []
        for i, codes in enumerate(codes_list):
            text = codes_to_text(np.asarray(codes, dtype=np.uint8), self.alphabet) or "N"
            for start in range(0, len(text), self.window):
                texts.append(text[start : start + self.window])
                owner.append(i)
        return texts, np.asarray(owner, dtype=np.int64)

    def embed(self, codes_list: Sequence[npt.NDArray[np.uint8]], batch_size: int = 8) -> npt.NDArray[np.float32]:
        """(n, hidden) mean of nucleotide-token hidden states over each whole transcript."""
        texts, owner = self._windows(codes_list)
        sums = torch.zeros(len(codes_list), self.out_dim, dtype=torch.float64)
        counts = torch.zeros(len(codes_list), dtype=torch.float64)
        order = np.argsort([len(t) for t in texts], kind="stable")
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        with torch.no_grad():
            for b in tqdm(batches, desc=f"embed {self.source}", unit="batch", leave=False, disable=None):
                enc: Any = self.tokenizer(
                    [texts[i] for i in b],
                    padding=True,
                    return_tensors="pt",
                    return_special_tokens_mask=True,
                )
                keep = enc.pop("special_tokens_mask").eq(0) & enc["attention_mask"].bool()
                inputs = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
                hidden = self.model(**inputs).last_hidden_state.float().cpu().double()
                w = keep.to(hidden.dtype).unsqueeze(-1)
                idx = torch.as_tensor(owner[b])
                sums.index_add_(0, idx, (hidden * w).sum(dim=1))
                counts.index_add_(0, idx, w.sum(dim=(1, 2)))
        if (counts == 0).any():
            raise RuntimeError(f"external encoder {self.source}: {int((counts == 0).sum())} transcripts gave no tokens")
        return (sums / counts.unsqueeze(1)).numpy().astype(np.float32)
