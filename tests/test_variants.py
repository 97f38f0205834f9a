"""Variant effects (isoclr.variants): the bcftools consensus + gffread oracle, the bad-VCF outcomes,
scoring with a tiny encoder, and the command.

The oracle: variants are placed on the demo genomes from their annotations (both strands; SNVs,
MNVs, insertions and deletions in 5'UTRs, CDSs, 3'UTRs, next to exon junctions, in introns and
at splice sites). The genome with all of them applied by ``bcftools consensus`` and the
annotation lifted over the indels (in this file, from the VCF alone) give, through ``gffread
-w``, every alternative mature transcript; each one isoclr builds must equal it, and so must its
CDS. Variants are placed so that no transcript is touched by two of them.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from isoclr.cli import main as cli_main
from isoclr.pretrain.model import build_encoder, save_checkpoint
from isoclr.store.annotation import Annotation, read_annotation
from isoclr.variants.effects import CODON_TABLE, check_reference, load_transcripts, map_variants
from isoclr.variants.genome import Genome
from isoclr.variants.score import EncoderModel, load_model, score_variants
from isoclr.variants.vcf import read_vcf

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo"
TINY = {"size": "tiny", "widths": [8, 8, 8, 8], "stem_width": 8, "projector": [16, 16, 8]}
TOOLS = ("gffread", "bcftools", "bgzip")

needs_tools = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS),
                                 reason="needs gffread, bcftools and bgzip (scripts/setup.sh --tests installs them)")

# ---------------------------------------------------------------------------------------------
# placing variants from the annotation
# ---------------------------------------------------------------------------------------------
CODING_CLASSES = ("snv_cds", "snv_5utr", "snv_3utr", "mnv_cds", "snv_exon_last_base", "snv_exon_first_base",
                  "del1_cds", "del3_cds", "ins1_cds", "ins3_cds", "del2_exon_end", "del2_exon_start",
                  "ins2_near_junction", "del2_3utr", "ins1_5utr", "snv_intron", "snv_splice_site",
                  "del_across_boundary")
NONCODING_CLASSES = ("snv_exon", "snv_exon_last_base", "snv_exon_first_base", "del2_exon_end", "ins2_near_junction",
                     "del3_exon", "ins1_exon", "snv_intron", "snv_splice_site", "del_across_boundary")
EXPECTED_REGION = {
    "snv_cds": {"CDS"}, "mnv_cds": {"CDS"}, "del1_cds": {"CDS"}, "del3_cds": {"CDS"}, "ins1_cds": {"CDS"},
    "ins3_cds": {"CDS"}, "snv_5utr": {"5'UTR"}, "ins1_5utr": {"5'UTR"}, "snv_3utr": {"3'UTR"}, "del2_3utr": {"3'UTR"},
    "snv_intron": {"intron"}, "snv_splice_site": {"splice_site"}, "del_across_boundary": {"exon_boundary"},
    "snv_exon": {"exon"}, "del3_exon": {"exon"}, "ins1_exon": {"exon"},
}
OTHER = {"A": "C", "C": "G", "G": "T", "T": "A"}


def read_fasta(path: Path) -> dict[str, str]:
    out = {}
    for rec in Path(path).read_text().split(">")[1:]:
        head, _, body = rec.partition("\n")
        out[head.split()[0]] = body.replace("\n", "").upper()
    return out


def gffread_headers(path: Path) -> dict[str, tuple[int, int] | None]:
    """transcript id -> CDS (0-based half-open) from gffread -w deflines."""
    out = {}
    with open(path) as fh:
        for line in fh:
            if line.startswith(">"):
                m = re.search(r"CDS=(\d+)-(\d+)", line)
                out[line[1:].split()[0]] = (int(m.group(1)) - 1, int(m.group(2))) if m else None
    return out


def place(genome: dict[str, str], ann: Annotation, rng: np.random.Generator, per_class: int,
          rotate: int = 0) -> list[dict]:
    """Variants of every class on both strands, each touching transcripts no other one touches."""
    tx, ex = ann.transcripts, ann.exons
    off = ann.exon_offsets()
    starts, ends = ex["start"].to_numpy(), ex["end"].to_numpy()
    spans = {c: (g["start"].to_numpy(), g["end"].to_numpy(), g.index.to_numpy()) for c, g in tx.groupby("chrom")}
    coding_species = bool((tx["cds_start"] >= 0).any())
    classes = CODING_CLASSES if coding_species else NONCODING_CLASSES
    classes = classes[rotate % len(classes):] + classes[:rotate % len(classes)]
    used: set[int] = set()
    placed: list[dict] = []
    order = rng.permutation(len(tx))
    ok = [i for i in order if off[i + 1] - off[i] >= 3 and tx["end"].iat[i] - tx["start"].iat[i] <= 300_000]
    for _round in range(per_class):
        for cls in classes:
            for strand in "+-":
                if len(used) == len(tx):
                    return placed
                for i in ok:
                    t = tx.iloc[i]
                    if i in used or t["strand"] != strand:
                        continue
                    v = make_variant(cls, t, starts[off[i]:off[i + 1]], ends[off[i]:off[i + 1]], genome[t["chrom"]],
                                     rng)
                    if v is None:
                        continue
                    lo, hi = v["pos"] - 2, v["pos"] + len(v["ref"]) + 1
                    s0, e0, idx = spans[t["chrom"]]
                    touched = set(idx[(s0 < hi) & (e0 > lo)].tolist())
                    if touched & used:
                        continue
                    used |= touched
                    placed.append({**v, "chrom": t["chrom"], "cls": cls, "strand": strand,
                                   "tid": t["transcript_id"]})
                    break
    return placed


def make_variant(cls: str, t: pd.Series, es: np.ndarray, ee: np.ndarray, chrom_seq: str,
                 rng: np.random.Generator) -> dict | None:
    """One variant of class ``cls`` on transcript ``t`` (None when it has no room for one)."""
    minus = t["strand"] == "-"
    gpos = np.concatenate([np.arange(a, b) for a, b in zip(es, ee)])
    if minus:
        gpos = gpos[::-1]
    n = len(gpos)
    lens = (ee - es)[::-1] if minus else ee - es
    tx_ends = np.cumsum(lens)  # exclusive ends of exons in transcript order
    internal = tx_ends[:-1]
    # CDS in transcript coordinates
    if t["cds_start"] >= 0:
        lo = int(np.flatnonzero(gpos == t["cds_start"])[0])
        hi = int(np.flatnonzero(gpos == t["cds_end"] - 1)[0])
        cs, ce = (hi, lo + 1) if minus else (lo, hi + 1)
    else:
        cs = ce = -1

    def pick(lo_: int, hi_: int, w: int = 6) -> int | None:
        """A random transcript index in [lo_, hi_) more than ``w`` bases from every exon end."""
        i = np.arange(max(lo_, w + 1), min(hi_, n - w))
        if not len(i):
            return None
        dist = np.abs(tx_ends[None, :] - i[:, None]).min(1)
        cand = i[dist > w]
        return int(cand[int(rng.integers(len(cand)))]) if len(cand) else None

    def base(g: int) -> str:
        return chrom_seq[g]

    def snv(i: int) -> dict:
        g = int(gpos[i])
        return {"pos": g + 1, "ref": base(g), "alt": OTHER.get(base(g), "A")}

    def deletion(i: int, m: int) -> dict | None:  # transcript bases [i, i+m)
        gs = gpos[i:i + m]
        if len(gs) < m or np.any(np.abs(np.diff(gs)) != 1):
            return None
        g0 = int(gs.min())
        return {"pos": g0, "ref": chrom_seq[g0 - 1:g0 + m], "alt": base(g0 - 1)}

    def insertion(i: int, m: int) -> dict | None:  # between transcript bases i-1 and i
        a, b = int(gpos[i - 1]), int(gpos[i])
        if abs(a - b) != 1:
            return None
        anchor = min(a, b)
        ins = "".join(rng.choice(list("ACGT"), m))
        return {"pos": anchor + 1, "ref": base(anchor), "alt": base(anchor) + ins}

    def mnv(i: int) -> dict | None:  # transcript bases [i, i+2), both changed
        gs = gpos[i:i + 2]
        if len(gs) < 2 or abs(int(gs[1]) - int(gs[0])) != 1:
            return None
        g0 = int(gs.min())
        ref = chrom_seq[g0:g0 + 2]
        return {"pos": g0 + 1, "ref": ref, "alt": "".join(OTHER.get(c, "A") for c in ref)}

    coding = cs >= 0
    mid_cds = pick(cs + 3, ce - 3) if coding else None
    j = int(rng.integers(len(internal)))  # an internal junction: exon j ends at internal[j]
    je = int(internal[j])
    v: dict | None = None
    if cls in ("snv_cds", "mnv_cds", "del1_cds", "del3_cds", "ins1_cds", "ins3_cds"):
        if mid_cds is None:
            return None
        v = {"snv_cds": lambda: snv(mid_cds), "del1_cds": lambda: deletion(mid_cds, 1),
             "del3_cds": lambda: deletion(mid_cds, 3), "ins1_cds": lambda: insertion(mid_cds, 1),
             "ins3_cds": lambda: insertion(mid_cds, 3),
             "mnv_cds": lambda: mnv(mid_cds)}[cls]()
    elif cls in ("snv_5utr", "ins1_5utr"):
        i = pick(1, cs, 2) if coding and cs > 4 else None
        v = None if i is None else snv(i) if cls == "snv_5utr" else insertion(i, 1)
    elif cls in ("snv_3utr", "del2_3utr"):
        i = pick(ce, n - 3, 2) if coding and n - ce > 8 else None
        v = None if i is None else snv(i) if cls == "snv_3utr" else deletion(i, 2)
    elif cls in ("snv_exon", "del3_exon", "ins1_exon"):
        i = pick(1, n - 4)
        v = None if i is None else snv(i) if cls == "snv_exon" else deletion(i, 3) if cls == "del3_exon" \
            else insertion(i, 1)
    elif cls == "snv_exon_last_base":
        v = snv(je - 1)
    elif cls == "snv_exon_first_base":
        v = snv(je)
    elif cls == "del2_exon_end":
        v = deletion(je - 2, 2) if lens[j] > 4 else None
    elif cls == "del2_exon_start":
        v = deletion(je, 2) if lens[j + 1] > 4 else None
    elif cls == "ins2_near_junction":
        v = insertion(je - 1, 2) if lens[j] > 4 else None
    elif cls in ("snv_intron", "snv_splice_site", "del_across_boundary"):
        k = int(rng.integers(len(es) - 1))  # genomic intron k: [ee[k], es[k+1])
        a, b = int(ee[k]), int(es[k + 1])
        if b - a < 30:
            return None
        if cls == "snv_intron":
            g = a + (b - a) // 2
            v = {"pos": g + 1, "ref": base(g), "alt": OTHER.get(base(g), "A")}
        elif cls == "snv_splice_site":
            g = a if rng.random() < 0.5 else b - 1
            v = {"pos": g + 1, "ref": base(g), "alt": OTHER.get(base(g), "A")}
        else:  # deletes the exon's last base and the intron's first
            v = {"pos": a - 1, "ref": chrom_seq[a - 2:a + 1], "alt": base(a - 2)}
    if v is None or "N" in v["ref"] or "N" in v["alt"]:
        return None
    return v


# ---------------------------------------------------------------------------------------------
# the oracle: bcftools consensus + lifted annotation + gffread -w
# ---------------------------------------------------------------------------------------------
def write_vcf(path: Path, records: list[dict], contigs: dict[str, int]) -> Path:
    order = {c: i for i, c in enumerate(contigs)}
    lines = ["##fileformat=VCFv4.2"] + [f"##contig=<ID={c},length={n}>" for c, n in contigs.items()]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    for r in sorted(records, key=lambda r: (order.get(r["chrom"], 1 << 30), r["pos"])):
        lines.append(f"{r['chrom']}\t{r['pos']}\t{r.get('id', '.')}\t{r['ref']}\t{r['alt']}\t.\tPASS\t.")
    path.write_text("\n".join(lines) + "\n")
    return path


def lift(coord: int, is_end: bool, variants: list[dict]) -> int:
    """A 1-based annotation coordinate on the genome after the (sorted, left-anchored) variants."""
    shift = 0
    for v in variants:
        p, r, a = v["pos"], len(v["ref"]), len(v["alt"])
        last = p + r - 1
        if coord > last:
            shift += a - r
        elif p < coord <= last and a < r:  # a deleted base: to the anchor (end) or past the deletion (start)
            return p + shift if is_end else p + 1 + shift
        else:
            break
    return coord + shift


def lift_gtf(src: Path, dest: Path, records: list[dict]) -> Path:
    per: dict[str, list[dict]] = {}
    for r in sorted(records, key=lambda r: r["pos"]):
        if len(r["ref"]) != len(r["alt"]):
            per.setdefault(r["chrom"], []).append(r)
    with open(src) as fi, open(dest, "w") as fo:
        for line in fi:
            f = line.rstrip("\n").split("\t")
            if line.startswith("#") or len(f) < 9 or f[0] not in per:
                fo.write(line)
                continue
            f[3] = str(lift(int(f[3]), False, per[f[0]]))
            f[4] = str(lift(int(f[4]), True, per[f[0]]))
            fo.write("\t".join(f) + "\n")
    return dest


def run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    assert res.returncode == 0, f"{' '.join(cmd)}: {res.stderr[-2000:]}"


SEEDS = {"human": 11, "mouse": 12, "fly": 13}
BATCHES = {"human": 1, "mouse": 4, "fly": 1}  # the mouse excerpt has 23 genes: one VCF cannot hold every class


def oracle_batch(tmp: Path, ref_fa: Path, gtf: Path, genome: dict[str, str], placed: list[dict],
                 bgzipped: bool) -> dict:
    vcf = write_vcf(tmp / "v.vcf", placed, {c: len(s) for c, s in genome.items()})
    run(["bgzip", "-k", "-f", str(vcf)])
    run(["bcftools", "index", "-f", str(vcf) + ".gz"])
    run(["bcftools", "consensus", "-f", str(ref_fa), "-o", str(tmp / "alt.fa"), str(vcf) + ".gz"])
    lift_gtf(gtf, tmp / "alt.gtf", placed)
    run(["gffread", "-w", str(tmp / "ref_tx.fa"), "-g", str(ref_fa), str(gtf)])
    run(["gffread", "-w", str(tmp / "alt_tx.fa"), "-g", str(tmp / "alt.fa"), str(tmp / "alt.gtf")])
    # the code under test reads the genome by random access (bgzip or plain)
    g = Genome(str(ref_fa) + ".gz" if bgzipped else ref_fa)
    variants = read_vcf(vcf)
    check_reference(variants, g)
    transcripts, _ = load_transcripts(gtf, g)
    effects = map_variants(variants, transcripts, g)
    return {"placed": placed, "effects": effects, "variants": variants,
            "ref": read_fasta(tmp / "ref_tx.fa"), "alt": read_fasta(tmp / "alt_tx.fa"),
            "ref_cds": gffread_headers(tmp / "ref_tx.fa"), "alt_cds": gffread_headers(tmp / "alt_tx.fa")}


@pytest.fixture(scope="module", params=["human", "mouse", "fly"])
def oracle(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    species = request.param
    tmp = tmp_path_factory.mktemp(f"oracle_{species}")
    ref_fa, gtf = tmp / "ref.fa", tmp / "ann.gtf"
    with gzip.open(DEMO / species / "genome.fa.gz", "rb") as fi, open(ref_fa, "wb") as fo:
        shutil.copyfileobj(fi, fo)
    with gzip.open(DEMO / species / "annotation.gtf.gz", "rb") as fi, open(gtf, "wb") as fo:
        shutil.copyfileobj(fi, fo)
    bgzipped = species == "human"
    if bgzipped:
        run(["bgzip", "-k", "-f", str(ref_fa)])
    genome = read_fasta(ref_fa)
    rng = np.random.default_rng(SEEDS[species])
    ann = read_annotation(gtf)
    batches = []
    for b in range(BATCHES[species]):
        placed = place(genome, ann, rng, per_class=3, rotate=5 * b)
        for k, r in enumerate(placed):
            r["id"] = f"b{b}v{k}"
        (tmp / f"batch{b}").mkdir()
        batches.append(oracle_batch(tmp / f"batch{b}", ref_fa, gtf, genome, placed, bgzipped))
    return {"species": species, "batches": batches}


@needs_tools
def test_alternative_transcripts_equal_bcftools_consensus_and_gffread(oracle: dict) -> None:
    for batch in oracle["batches"]:
        check_batch(batch)


def check_batch(oracle: dict) -> None:
    effects, placed = oracle["effects"], oracle["placed"]
    assert all(v.status == "ok" for v in oracle["variants"])
    scored = [f for f in effects if f.status == "scored" and f.transcript is not None]
    assert len(scored) >= len(placed) // 2
    touched = set()
    for f in scored:
        tid = f.transcript.tid
        touched.add(tid)
        assert f.transcript._seq == oracle["ref"][tid], f"{tid}: reference transcript differs from gffread"
        assert f.alt_seq == oracle["alt"][tid], f"{f.variant.name} {f.variant.kind} on {tid} ({f.region}): " \
            "alternative transcript differs from bcftools consensus + gffread"
        ph = f.transcript.cds_phase  # gffread's CDS starts after the phase of a 5'-incomplete CDS
        cds = None if f.alt_cds is None else (f.alt_cds[0] + ph, f.alt_cds[1])
        ref_cds = f.transcript.tx_cds()
        assert (None if ref_cds is None else (ref_cds[0] + ph, ref_cds[1])) == oracle["ref_cds"][tid]
        assert cds == oracle["alt_cds"][tid], f"{f.variant.name} on {tid}: CDS {cds} != gffread's " \
            f"{oracle['alt_cds'][tid]}"
        if f.alt_exon_ends is not None:
            assert int(f.alt_exon_ends[-1]) == len(f.alt_seq)
    # the lift-over of this test: transcripts no variant touches are unchanged
    others = [t for t in oracle["ref"] if t not in {f.transcript.tid for f in effects if f.transcript}]
    assert others and all(oracle["ref"][t] == oracle["alt"][t] for t in others)


@needs_tools
def test_every_class_is_placed_and_lands_where_expected(oracle: dict) -> None:
    by_id = {}
    for f in (f for b in oracle["batches"] for f in b["effects"]):
        if f.transcript is not None:
            by_id[(f.variant.vid, f.transcript.tid)] = f
    coverage: Counter[tuple[str, str]] = Counter()
    placed = [r for b in oracle["batches"] for r in b["placed"]]
    for r in placed:
        f = by_id[(r["id"], r["tid"])]
        want = EXPECTED_REGION.get(r["cls"])
        if want is not None:
            assert f.region in want, f"{r['cls']} {r} landed in {f.region}"
        if r["cls"] == "del_across_boundary":
            assert f.status == "crosses_exon_boundary" and f.alt_seq is None
        else:
            assert f.status == "scored"
        if r["cls"] in ("snv_exon_last_base", "snv_exon_first_base", "del2_exon_end", "del2_exon_start",
                        "ins2_near_junction"):
            assert f.near_splice, r
        coverage[(r["cls"], r["strand"])] += 1
    classes = CODING_CLASSES if oracle["species"] != "fly" else NONCODING_CLASSES
    print(f"\n{oracle['species']}: {len(placed)} variants placed; per class (+/-): "
          + ", ".join(f"{c} {coverage[(c, '+')]}/{coverage[(c, '-')]}" for c in classes))
    if oracle["species"] == "mouse":  # 23 genes, few on '-': most classes, on either strand
        assert sum(coverage[(c, "+")] + coverage[(c, "-")] >= 1 for c in classes) >= len(classes) - 2, coverage
    else:  # every class on both strands
        assert all(coverage[(c, s)] >= 1 for c in classes for s in "+-"), coverage


@needs_tools
def test_coding_consequences_agree_with_translation(oracle: dict) -> None:
    """SNVs and MNVs in a CDS: the consequence matches translating gffread's transcripts."""
    checked = 0
    for oracle_b in oracle["batches"]:
        checked += check_consequences(oracle_b)
    if oracle["species"] != "fly":
        assert checked >= 5


def check_consequences(oracle: dict) -> int:
    checked = 0
    for f in oracle["effects"]:
        if f.region != "CDS" or f.variant.kind not in ("SNV", "MNV") or f.status != "scored":
            continue
        tid = f.transcript.tid
        cs, ce = oracle["ref_cds"][tid]  # gffread's: after the phase
        ref_p = "".join(CODON_TABLE.get(oracle["ref"][tid][i:i + 3], "X") for i in range(cs, ce - 2, 3))
        alt_p = "".join(CODON_TABLE.get(oracle["alt"][tid][i:i + 3], "X") for i in range(cs, ce - 2, 3))
        diff = [i for i, (a, b) in enumerate(zip(ref_p, alt_p)) if a != b]
        if not diff:
            assert f.consequence == "synonymous", (tid, f.codons, f.amino_acids)
        else:
            assert f.consequence in ("missense", "stop_gained", "stop_lost", "start_lost"), f.consequence
            assert f.codon == diff[0] + 1 or (f.variant.kind == "MNV" and f.codon in (diff[0], diff[0] + 1))
            assert (f.consequence == "stop_gained") == (alt_p[diff[0]] == "*")
        checked += 1
    return checked


# ---------------------------------------------------------------------------------------------
# bad records, the model, scoring and the command (the human excerpt, a tiny random encoder)
# ---------------------------------------------------------------------------------------------
HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


class GCHead:
    """A stand-in fine-tuned head: the GC fraction of the CDS (or of the whole sequence)."""

    def predict_sequences(self, seqs: list[str], cds: list[tuple[int, int] | None],
                          exon_ends: list | None = None) -> np.ndarray:
        # the scorer gives each sequence its exon ends (the splice track a kept head was trained with)
        assert exon_ends is not None and len(exon_ends) == len(seqs)
        assert all(len(e) and int(e[-1]) == len(s) for e, s in zip(exon_ends, seqs))
        out = []
        for s, c in zip(seqs, cds):
            part = s[c[0]:c[1]] if c else s
            out.append((part.count("G") + part.count("C")) / max(len(part), 1))
        return np.asarray(out)


@pytest.fixture(scope="module")
def human(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("variants_human")
    fa = tmp / "genome.fa"
    with gzip.open(DEMO / "human" / "genome.fa.gz", "rb") as fi, open(fa, "wb") as fo:
        shutil.copyfileobj(fi, fo)
    # a small annotation: the chr19 transcripts of 8 genes
    with gzip.open(DEMO / "human" / "annotation.gtf.gz", "rt") as fi:
        rows = [line for line in fi if line.startswith("chr19\t")]
    genes = list(dict.fromkeys(re.search(r'gene_id "([^"]+)"', r).group(1) for r in rows))[10:18]
    gtf = tmp / "small.gtf"
    gtf.write_text("".join(r for r in rows if re.search(r'gene_id "([^"]+)"', r).group(1) in genes))
    torch.manual_seed(0)
    save_checkpoint(tmp / "ckpt.pt", build_encoder(TINY), "dcl")
    genome = read_fasta(fa)
    ann = read_annotation(gtf)
    return {"tmp": tmp, "fa": fa, "gtf": gtf, "ckpt": tmp / "ckpt.pt", "genome": genome, "ann": ann}


def exon_snvs(h: dict, n: int) -> list[str]:
    """VCF lines: an SNV in the middle of the first exon of ``n`` transcripts, and one mid-intron."""
    out = []
    tx, ex = h["ann"].transcripts, h["ann"].exons
    for i in range(n):
        e = ex[ex["tx"] == i].iloc[0]
        g = int((e["start"] + e["end"]) // 2)
        b = h["genome"][tx["chrom"].iat[i]][g]
        out.append(f"{tx['chrom'].iat[i]}\t{g + 1}\texon{i}\t{b}\t{OTHER[b]}\t.\tPASS\t.")
    multi = ex.groupby("tx").size()
    i = int(multi[multi > 1].index[0])
    e0, e1 = ex[ex["tx"] == i].iloc[0], ex[ex["tx"] == i].iloc[1]
    g = int((e0["end"] + e1["start"]) // 2)
    b = h["genome"][tx["chrom"].iat[i]][g]
    out.append(f"{tx['chrom'].iat[i]}\t{g + 1}\tintron\t{b}\t{OTHER[b]}\t.\tPASS\t.")
    return out


def test_bad_records_each_get_a_named_counted_outcome(human: dict, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    good = exon_snvs(human, 2)
    c, p, b = good[0].split("\t")[:2] + [good[0].split("\t")[3]]
    wrong = OTHER[b]
    long_ref = human["genome"][c][int(p) - 1:int(p) + 59]
    bad = [
        f"{c}\t{p}\tmulti\t{b}\t{OTHER[b]},{OTHER[OTHER[b]]}\t.\tPASS\t.",
        f"{c}\t{p}\tsv\t{b}\t<DEL>\t.\tPASS\tSVTYPE=DEL;END={int(p) + 500}",
        f"{c}\t{p}\tbnd\t{b}\t{b}]chr1:1000]\t.\tPASS\tSVTYPE=BND",
        f"{c}\t{p}\trefcall\t{b}\t.\t.\tPASS\t.",
        f"{c}\t{p}\tmismatch\t{wrong}\t{OTHER[wrong]}\t.\tPASS\t.",
        f"chrUn_nowhere\t{p}\tnocontig\tA\tC\t.\tPASS\t.",
        f"{c}\t{p}\tlong\t{long_ref}\t{long_ref[0]}\t.\tPASS\t.",
    ]
    vcf = tmp_path / "bad.vcf"
    vcf.write_text(HEADER + "\n".join(good + bad) + "\n")
    out = tmp_path / "bad.tsv"
    rc = cli_main(["variants", "--vcf", str(vcf), "--genome", str(human["fa"]), "--annotation", str(human["gtf"]),
                   "--model", str(human["ckpt"]), "--out", str(out)])
    assert rc == 0
    t = pd.read_csv(out, sep="\t", keep_default_na=False)
    status = t.drop_duplicates("variant").set_index("variant")["status"].to_dict()
    assert status["multi"] == "multiallelic" and status["sv"] == "symbolic" and status["bnd"] == "symbolic"
    assert status["refcall"] == "no_alt" and status["mismatch"] == "ref_mismatch"
    assert status["nocontig"] == "missing_contig" and status["long"] == "long_indel"
    assert status["exon0"] == "scored" and status["intron"] == "scored"
    lines = t.drop_duplicates("variant").set_index("variant")["vcf_line"]
    assert lines["multi"] == 6 and lines["long"] == 12  # 2 header lines, 3 good records
    err = capsys.readouterr().err
    for name in ("1 multiallelic", "2 symbolic", "1 no_alt", "1 ref_mismatch", "1 missing_contig", "1 long_indel"):
        assert name in err, err
    bad_rows = t[t["status"] != "scored"]
    assert (bad_rows["cosine_distance"].astype(str) == "").all() and (bad_rows["transcript_id"] == "").all()


@pytest.mark.parametrize(("line", "message"), [
    ("chr19\t1000\t.\tA\tC\t.\tPASS", "line 4: 7 tab-separated columns"),
    ("chr19\tten\t.\tA\tC\t.\tPASS\t.", "line 4: POS 'ten'"),
    ("chr19\t1000\t.\tA-\tC\t.\tPASS\t.", "line 4: REF 'A-'"),
    ("chr19\t1000\t.\tA\tC!\t.\tPASS\t.", "line 4: ALT 'C!'"),
    ("chr19\t1000\t.\tA\tA\t.\tPASS\t.", "line 4: REF equals ALT"),
])
def test_a_malformed_line_is_an_error_naming_it(human: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                line: str, message: str) -> None:
    vcf = tmp_path / "bad.vcf"
    vcf.write_text(HEADER + "chr19\t999\t.\tA\tC\t.\tPASS\t.\n" + line + "\n")
    rc = cli_main(["variants", "--vcf", str(vcf), "--genome", str(human["fa"]), "--annotation", str(human["gtf"]),
                   "--model", str(human["ckpt"]), "--out", str(tmp_path / "x.tsv")])
    assert rc == 1
    err = capsys.readouterr().err
    assert f"{vcf}: {message}" in err, err
    assert not (tmp_path / "x.tsv").exists()


def test_plain_gzip_genome_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="gzip but not bgzip"):
        Genome(DEMO / "fly" / "genome.fa.gz")


def test_scores_heads_and_embeddings(human: dict, tmp_path: Path) -> None:
    from isoclr.evaluate.embedder import Embedder

    vcf = tmp_path / "v.vcf"
    vcf.write_text(HEADER + "\n".join(exon_snvs(human, 6)) + "\n")
    model = load_model(human["ckpt"])
    t = score_variants(vcf, human["fa"], human["gtf"], model, {"gc": GCHead()})
    scored = t[t["status"] == "scored"]
    assert len(scored) >= 7 and {"ref_gc", "alt_gc", "delta_gc", "cosine_distance"} <= set(t.columns)
    intron = scored[scored["region"] == "intron"]
    assert len(intron) and (intron["cosine_distance"] == 0).all() and (intron["delta_gc"] == 0).all()
    exonic = scored[scored["region"] != "intron"]
    assert (exonic["cosine_distance"] > 0).any() and (exonic["cosine_distance"] >= 0).all()
    # the head's change, recomputed here from the reference transcripts
    emb = Embedder.from_checkpoint(human["ckpt"])
    ref = emb.embed_genome(human["fa"], human["gtf"], max_length=None)
    for _, r in exonic.iterrows():
        assert np.isclose(r["alt_gc"] - r["ref_gc"], r["delta_gc"])
        assert (r["alt"] in "GC") != (r["ref"] in "GC") or r["delta_gc"] == 0
    # reference embeddings through the variant path equal the embedder's (same six tracks)
    gtx, _ = load_transcripts(human["gtf"], Genome(human["fa"]))
    gmodel = Genome(human["fa"])
    seqs = [t_.sequence(gmodel) for t_ in gtx]
    h = model.embed(seqs, [t_.tx_cds() for t_ in gtx], [t_.exon_ends() for t_ in gtx], [t_.cds_phase for t_ in gtx])
    want = ref.set_index("transcript_id").loc[[t_.tid for t_ in gtx]].filter(regex=r"^h_").to_numpy()
    np.testing.assert_allclose(h, want, rtol=1e-5, atol=1e-6)


def test_command_with_heads_and_model_folders(human: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from isoclr.evaluate.embedder import Embedder

    vcf = tmp_path / "v.vcf"
    vcf.write_text(HEADER + "\n".join(exon_snvs(human, 3)) + "\n")
    fake = types.ModuleType("isoclr.evaluate.heads")
    fake.load_head = lambda path: GCHead()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "isoclr.evaluate.heads", fake)
    folder = tmp_path / "pretrain_model"
    folder.mkdir()
    shutil.copy(human["ckpt"], folder / "checkpoint.pt")
    out = tmp_path / "out" / "v.tsv"
    rc = cli_main(["variants", "--vcf", str(vcf), "--genome", str(human["fa"]), "--annotation", str(human["gtf"]),
                   "--model", str(folder), "--head", str(tmp_path / "halflife_head"), "--out", str(out)])
    assert rc == 0
    t = pd.read_csv(out, sep="\t")
    assert {"delta_halflife_head", "ref_halflife_head", "alt_halflife_head"} <= set(t.columns)
    # a model folder (config.json) goes to Embedder.from_pretrained
    (folder / "config.json").write_text("{}")
    monkeypatch.setattr(Embedder, "from_pretrained", classmethod(lambda cls, p: cls.from_checkpoint(human["ckpt"])),
                        raising=False)
    assert isinstance(load_model(folder), EncoderModel)
    with pytest.raises(ValueError, match="no model here"):
        load_model(tmp_path / "nothing")


# ---------------------------------------------------------------------------------------------
# the pipeline: config section, targets, the demo's table
# ---------------------------------------------------------------------------------------------
def test_settings_resolve_and_name_the_key_at_fault() -> None:
    import copy

    import yaml

    from isoclr.config.base import ConfigError
    from isoclr.variants import settings as VS

    demo = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    s = VS.VariantsSettings.from_config(demo, "demo_human")
    assert (s.species, s.model, s.vcf) == ("human", demo["evaluation"]["isoclr_model"], "resources/demo/human/variants.vcf")
    assert VS.vcf_names(demo) == ["demo_human"] and VS.variant_species(demo) == ["human"]
    bad = copy.deepcopy(demo)
    bad["variants"]["vcfs"]["demo_human"]["species"] = "yeast"
    with pytest.raises(ConfigError, match=r"variants.vcfs.demo_human.species is 'yeast', which is not a `species`"):
        VS.check(bad)
    bad = copy.deepcopy(demo)
    bad["variants"]["model"] = "nosuch"
    with pytest.raises(ConfigError, match=r"variants.model is 'nosuch', which is not a `pretrain.models` entry"):
        VS.check(bad)
    assert VS.vcf_names({"species": {}}) == []


def test_settings_and_schema_cannot_drift() -> None:
    import dataclasses

    import yaml

    from isoclr.variants.settings import VariantsSettings

    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())["$defs"]["variants"]["properties"]
    fields = {f.name: f.default for f in dataclasses.fields(VariantsSettings)}
    # vcfs.NAME gives name, path and species; the other keys are fields with the schema's defaults
    assert set(schema) - {"vcfs", "model"} == set(fields) - {"name", "vcf", "species", "model"}
    for key in set(schema) - {"vcfs", "model", "heads"}:
        assert schema[key]["default"] == fields[key], key
    assert set(schema["vcfs"]["additionalProperties"]["properties"]) == {"path", "species"}


def test_a_bad_variants_config_stops_the_dry_run(tmp_path: Path) -> None:
    o = tmp_path / "o.yaml"
    o.write_text("variants: {vcfs: {mine: {path: x.vcf, species: yeast}}}\n")
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(o)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode != 0
    assert "variants.vcfs.mine.species is 'yeast'" in done.stdout + done.stderr


def test_the_demo_scores_its_vcf(demo_repo: Path) -> None:
    """The demo run made results/variants/demo_human.tsv (a target of `snakemake` alone): every
    record has a row, the unscorable ones with their named outcome."""
    t = pd.read_csv(demo_repo / "results" / "variants" / "demo_human.tsv", sep="\t", keep_default_na=False)
    vcf = [line.split("\t") for line in (ROOT / "resources" / "demo" / "human" / "variants.vcf").read_text().splitlines()
           if not line.startswith("#")]
    assert set(t["variant"]) == {f[2] for f in vcf}
    status = t.drop_duplicates("variant").set_index("variant")["status"]
    assert status["multiallelic"] == "multiallelic" and status["symbolic_deletion"] == "symbolic"
    assert status["ref_mismatch"] == "ref_mismatch" and status["missing_contig"] == "missing_contig"
    scored = t[t["status"] == "scored"]
    assert len(scored["variant"].unique()) == len(vcf) - 4
    assert {"CDS", "5'UTR", "3'UTR", "intron", "splice_site"} <= set(scored["region"])
    assert {"stop_gained", "frameshift", "inframe_deletion", "inframe_insertion"} <= set(scored["consequence"])
    assert (scored["cosine_distance"].astype(float) >= 0).all()


def test_gzip_vcf_and_contig_names_without_chr(human: dict, tmp_path: Path) -> None:
    lines = exon_snvs(human, 3)
    plain = tmp_path / "v.vcf"
    plain.write_text(HEADER + "\n".join(lines) + "\n")
    gz = tmp_path / "v.vcf.gz"
    with gzip.open(gz, "wt") as fh:  # the Ensembl style: 19, not chr19
        fh.write(HEADER + "\n".join(line.removeprefix("chr") for line in lines) + "\n")
    g = Genome(human["fa"])
    a, b = read_vcf(plain), read_vcf(gz)
    check_reference(a, g)
    check_reference(b, g)
    assert [(v.chrom, v.start, v.end, v.alt_seq, v.status) for v in a] == \
        [(v.chrom, v.start, v.end, v.alt_seq, v.status) for v in b]
    assert all(v.status == "ok" and v.chrom == "chr19" for v in b)


def test_a_variant_touching_no_transcript_is_counted(human: dict, tmp_path: Path) -> None:
    tx = human["ann"].transcripts
    end = int(tx.loc[tx["chrom"] == "chr19", "end"].max())
    g = end + 5000  # past the last transcript of the small annotation
    b = human["genome"]["chr19"][g]
    vcf = tmp_path / "v.vcf"
    vcf.write_text(HEADER + f"chr19\t{g + 1}\tfar\t{b}\t{OTHER.get(b, 'A')}\t.\tPASS\t.\n")
    t = score_variants(vcf, human["fa"], human["gtf"], EncoderModel(build_encoder(TINY)))
    assert t[["status", "region", "transcript_id"]].values.tolist() == [["no_transcript", "outside", ""]]
    assert t.attrs["counts"] == {"no_transcript": 1}
