"""The shareable model folder: written by every pre-training and by `isoclr export-model`,
loaded by `Embedder.from_pretrained` with the checkpoint's embeddings, no pickle inside, and a
crafted config.json or tensor file refused with a named error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from isoclr.cli import main as cli_main
from isoclr.evaluate.embedder import Embedder
from isoclr.pretrain import loop as P
from isoclr.pretrain import model_folder as MF
from isoclr.pretrain.model import load_checkpoint
from isoclr.simulate import SimConfig, write_simulation
from isoclr.store.format import IsoformStore

SHORT = {"first_exon": (80, 120), "last_exon": (120, 180), "exon_length": (45, 90), "exons_min": 3,
         "exons_max": 4, "utr5": (20, 40), "utr3_min": 30, "motif_copies": 1}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("mf")
    sim = write_simulation(SimConfig(seed=3, n_families=24, **SHORT), tmp / "sim")
    cfg = {"objective": "dcl", "size": "tiny", "batch_size": 8, "steps": 6, "warmup_steps": 1, "lr": 3e-3,
           "num_workers": 0, "log_every": 2, "val_every": 3, "val_batches": 1, "checkpoint_every": 6,
           "threads": 1, "seed": 2, "sets": str(sim["sets"]), "splits": str(sim["splits"])}
    _, s = P.resolve(cfg)
    P.pretrain(s, tmp / "run")
    return {"tmp": tmp, "out": tmp / "run", "ckpt": tmp / "run" / "checkpoint.pt", "folder": tmp / "run" / "model",
            "store": sim["store_sim_a"]}


def _is_pickle_or_torch_zip(data: bytes) -> bool:
    # torch.save writes a zip (PK..) holding data.pkl; a raw pickle starts with PROTO (0x80)
    return data[:2] == b"PK" or data[:1] == b"\x80" or b"data.pkl" in data


def test_pretraining_writes_the_folder_and_it_embeds_like_the_checkpoint(run: dict) -> None:
    folder = run["folder"]
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    for p in folder.iterdir():
        assert not _is_pickle_or_torch_zip(p.read_bytes()), p
    # the tensor file is plain safetensors: 8-byte header length, then a JSON header
    raw = (folder / "model.safetensors").read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    assert header["__metadata__"]["format"] == "pt"
    assert {k.split(".")[0] for k in header if k != "__metadata__"} == {"encoder", "projector"}

    store = IsoformStore(run["store"])
    a = Embedder.from_checkpoint(run["ckpt"], device="cpu").embeddings_of_store(store).h
    b = Embedder.from_pretrained(folder, device="cpu").embeddings_of_store(store).h
    assert a.shape == (len(store), 64) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)

    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["format"] == "isoclr-model" and cfg["objective"] == "dcl" and cfg["isoclr_version"]
    assert cfg["architecture"]["size"] == "tiny" and [t["name"] for t in cfg["tracks"]] == [
        "A", "C", "G", "T", "codon", "splice"]
    assert cfg["training"]["step"] == 6 and "loss" in cfg["training"]["final_losses"]
    data = cfg["training"]["data"]
    assert data["species"] == ["sim_a", "sim_b"] and data["sets"] == 24
    assert sum(s["transcripts"] for s in data["splits"].values()) == data["transcripts"]
    # the projector loads too, with the checkpoint's weights
    proj = MF.load_projector(folder)
    ck = load_checkpoint(run["ckpt"])
    for k, v in ck["projector"].items():
        torch.testing.assert_close(proj.state_dict()[k], v, rtol=0, atol=0)


def test_model_card(run: dict) -> None:
    card = (run["folder"] / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: isoclr\n")
    for text in ("## Training data", "sim_a, sim_b", "24 transcript sets", "6 optimiser steps", "Final losses: loss",
                 "## Intended use and limitations", "Embedder.from_pretrained", "arXiv:2310.08738",
                 "No evaluation was attached"):
        assert text in card, text


def test_export_model_of_an_older_checkpoint_with_a_summary(run: dict, tmp_path: Path) -> None:
    summary = tmp_path / "summary.tsv"
    summary.write_text("task\tmodel\tfraction\tsplit\tmetric\tn_runs\tmean\tsd\tci95_low\tci95_high\n"
                       "halflife_human\tisoclr-linear\t1.0\ttest\tpearson_r\t3\t0.61\t0.02\t0.56\t0.66\n"
                       "halflife_human\tisoclr-linear\t0.1\ttest\tpearson_r\t3\t0.40\t0.02\t0.35\t0.45\n"
                       "halflife_human\tsaluki\t1.0\ttest\tpearson_r\t3\t0.70\t0.02\t0.65\t0.75\n")
    assert cli_main(["export-model", str(run["ckpt"]), str(tmp_path / "exported"), "--summary", str(summary)]) == 0
    a, b = (json.loads((d / "config.json").read_text()) for d in (run["folder"], tmp_path / "exported"))
    assert a["weights"]["sha256"] == b["weights"]["sha256"]  # the same tensors as the hook's folder
    assert b["evaluation"] == [{"task": "halflife_human", "model": "isoclr-linear", "metric": "pearson_r",
                                "n_runs": 3, "mean": 0.61, "sd": 0.02, "ci95_low": 0.56, "ci95_high": 0.66}]
    card = (tmp_path / "exported" / "README.md").read_text()
    assert "| halflife_human | isoclr-linear | pearson_r | 3 | 0.61 | 0.56 to 0.66 |" in card
    assert "saluki" not in card


def _copy(run: dict, tmp_path: Path) -> Path:
    dest = tmp_path / "copy"
    shutil.copytree(run["folder"], dest)
    return dest


CONFIG_EDITS = {
    "unknown architecture key": (lambda c: c["architecture"].update(evil="x"), "unknown key"),
    "absurd width": (lambda c: c["architecture"].update(widths=[16, 32, 32, 10**9]), "widths"),
    "string for an integer": (lambda c: c["architecture"].update(kernel_size="2"), "kernel_size"),
    "other format": (lambda c: c.update(format="pickle"), "format"),
    "future version": (lambda c: c.update(format_version=2), "format_version"),
    "weights elsewhere": (lambda c: c["weights"].update(file="../../etc/passwd"), "weights"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_EDITS))
def test_a_crafted_config_is_refused(run: dict, tmp_path: Path, case: str) -> None:
    folder = _copy(run, tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    edit, words = CONFIG_EDITS[case]
    edit(cfg)
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(MF.ModelFolderError, match=words):
        Embedder.from_pretrained(folder)


@pytest.mark.parametrize("text, words", [("{not json", "not valid JSON"), ('{"a": NaN}', "not valid JSON"),
                                          ('{"format": 1, "format": 2}', "appears twice"), ("[1, 2]", "JSON object")])
def test_a_config_that_is_not_one_is_refused(run: dict, tmp_path: Path, text: str, words: str) -> None:
    folder = _copy(run, tmp_path)
    (folder / "config.json").write_text(text)
    with pytest.raises(MF.ModelFolderError, match=words):
        MF.load_model_folder(folder)


def test_a_crafted_tensor_file_is_refused(run: dict, tmp_path: Path) -> None:
    folder = _copy(run, tmp_path)
    weights, cfg_path = folder / "model.safetensors", folder / "config.json"
    good = MF.read_tensors(folder, json.loads(cfg_path.read_text()))

    def with_sha() -> None:  # the attacker also edits config.json to name the new file
        cfg = json.loads(cfg_path.read_text())
        cfg["weights"]["sha256"] = MF.file_sha256(weights)
        cfg_path.write_text(json.dumps(cfg))

    # a pickle in place of the tensors: the checksum in config.json refuses it, and with that
    # updated too, the safetensors reader does (nothing is unpickled)
    torch.save({"encoder": {k: v for k, v in good.items()}}, weights)
    with pytest.raises(MF.ModelFolderError, match="sha256"):
        MF.load_model_folder(folder)
    with_sha()
    with pytest.raises(MF.ModelFolderError, match="not a safetensors file"):
        MF.load_model_folder(folder)
    # valid safetensors, wrong shapes / missing tensors
    bad = dict(good)
    bad["encoder.stem.weight"] = torch.zeros(3, 3)
    save_file(bad, str(weights))
    with_sha()
    with pytest.raises(MF.ModelFolderError, match="shape"):
        MF.load_model_folder(folder)
    save_file({k: v for k, v in good.items() if k != "encoder.stem.weight"}, str(weights))
    with_sha()
    with pytest.raises(MF.ModelFolderError, match="missing"):
        MF.load_model_folder(folder)
    # and a folder without the tensors
    weights.unlink()
    with pytest.raises(MF.ModelFolderError, match="missing"):
        MF.load_model_folder(folder)


def test_a_different_run_in_the_folder_removes_the_old_model_folder(run: dict, tmp_path: Path) -> None:
    from isoclr.pretrain.state import clean

    out = tmp_path / "run"
    shutil.copytree(run["out"], out)
    assert (out / "model" / "model.safetensors").exists()
    clean(out)  # what a fresh, different run does first: no stale model/ beside its new checkpoints
    assert not (out / "model").exists() and not (out / "checkpoint.pt").exists()
