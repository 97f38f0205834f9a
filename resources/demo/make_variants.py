"""Write resources/demo/human/variants.vcf: a small VCF the demo pipeline scores (config
`variants.vcfs.demo_human`), made from the demo's own human genome and annotation.

    python resources/demo/make_variants.py        # from the repository root; deterministic

Placed on the chr19 excerpt's protein-coding transcripts, on both strands: SNVs in a CDS (a
missense or synonymous change at a middle codon, a stop gain), 5'UTR and 3'UTR SNVs, a 1-nt and
a 3-nt deletion and insertion in a CDS, an SNV on the last base of an internal exon, an intronic
SNV and a splice-site SNV (intron base 1). Then one record of each kind the scorer does not
score, so the demo exercises every named outcome: a multi-allelic record, a symbolic <DEL>, a
REF that differs from the genome, and a contig absent from the genome. None of these are real
observed variants.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from isoclr.store.annotation import read_annotation

HERE = Path(__file__).resolve().parent
OTHER = {"A": "G", "C": "T", "G": "A", "T": "C"}  # transitions
STOPS = ("TAA", "TAG", "TGA")


def read_chrom(path: Path, name: str) -> str:
    parts, keep = [], False
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith(">"):
                keep = line[1:].split()[0] == name
            elif keep:
                parts.append(line.strip().upper())
    return "".join(parts)


def main() -> None:
    chrom = "chr19"
    seq = read_chrom(HERE / "human" / "genome.fa.gz", chrom)
    ann = read_annotation(HERE / "human" / "annotation.gtf.gz")
    tx, ex = ann.transcripts, ann.exons
    off = ann.exon_offsets()
    coding = tx.index[(tx["chrom"] == chrom) & (tx["cds_start"] >= 0) & (tx["biotype"] == "protein_coding")
                      & (off[1:] - off[:-1] >= 4).astype(bool)]
    records: list[tuple[int, str, str, str]] = []  # pos (1-based), id, ref, alt
    used_genes: set[str] = set()
    for strand in "+-":
        for i in coding:
            t = tx.loc[i]
            if t["strand"] != strand or t["gene_id"] in used_genes:
                continue
            e = ex.iloc[off[i]:off[i + 1]]
            gpos = np.concatenate([np.arange(a, b) for a, b in zip(e["start"], e["end"])])
            minus = strand == "-"
            if minus:
                gpos = gpos[::-1]
            lo = int(np.flatnonzero(gpos == (t["cds_end"] - 1 if minus else t["cds_start"]))[0])
            hi = int(np.flatnonzero(gpos == (t["cds_start"] if minus else t["cds_end"] - 1))[0]) + 1
            if lo < 20 or len(gpos) - hi < 20 or hi - lo < 300:
                continue
            used_genes.add(t["gene_id"])
            name = t["gene_name"] or t["gene_id"]

            def snv(k: int, label: str, alt: str | None = None, gpos: np.ndarray = gpos, name: str = name) -> None:
                g = int(gpos[k])
                ref = seq[g]
                a = alt or OTHER[ref]
                records.append((g + 1, f"{name}_{label}", ref, a))

            def contiguous(k: int, n: int, gpos: np.ndarray = gpos) -> bool:
                return bool(np.all(np.abs(np.diff(gpos[k - 1:k + n + 1])) == 1))

            mid = lo + ((hi - lo) // 2) // 3 * 3
            snv(mid + 2, "cds_snv")
            snv(lo // 2, "utr5_snv")
            snv((hi + len(gpos)) // 2, "utr3_snv")
            # a stop gain: the first codon one substitution away from a stop (on the transcript's strand)
            comp = str.maketrans("ACGT", "TGCA")
            for c in range(lo + 3, hi - 3, 3):
                codon = "".join(seq[int(g)] for g in gpos[c:c + 3])
                codon = codon.translate(comp) if minus else codon
                hit = next(((j, s[j]) for s in STOPS for j in range(3)
                            if sum(x != y for x, y in zip(codon, s)) == 1 and codon[j] != s[j]), None)
                if hit:
                    j, b = hit
                    snv(c + j, "stop_gain", b.translate(comp) if minus else b)
                    break
            for k, label, n in ((mid + 30, "cds_del1", 1), (mid + 60, "cds_del3", 3)):
                if contiguous(k, n):
                    g0 = int(gpos[k + n - 1] if minus else gpos[k])
                    records.append((g0, f"{name}_{label}", seq[g0 - 1:g0 + n], seq[g0 - 1]))
            for k, label, ins in ((mid + 90, "cds_ins1", "A"), (mid + 120, "cds_ins3", "GCC")):
                if contiguous(k, 1):
                    anchor = int(min(gpos[k - 1], gpos[k]))
                    records.append((anchor + 1, f"{name}_{label}", seq[anchor], seq[anchor] + ins))
            lens = (e["end"] - e["start"]).to_numpy()
            first_end = int(np.cumsum(lens[::-1] if minus else lens)[0])
            snv(first_end - 1, "exon_last_base")
            a, b = int(e["end"].iat[0]), int(e["start"].iat[1])  # the first genomic intron
            records.append((a + (b - a) // 2 + 1, f"{name}_intron", seq[a + (b - a) // 2], OTHER[seq[a + (b - a) // 2]]))
            records.append((a + 1, f"{name}_splice_site", seq[a], OTHER[seq[a]]))
            if len(used_genes) in (2, 4):
                break
    p, _, ref, _ = records[0]
    records += [
        (p, "multiallelic", ref, ",".join(b for b in "ACGT" if b != ref)[:3]),
        (p + 5, "symbolic_deletion", seq[p + 4], "<DEL>"),
        (p + 10, "ref_mismatch", OTHER[seq[p + 9]], seq[p + 9]),
    ]
    lines = ["##fileformat=VCFv4.2", "##source=resources/demo/make_variants.py (placed, not observed, variants)",
             f"##contig=<ID={chrom},length={len(seq)}>", "##contig=<ID=chrUn_demo,length=1000>",
             '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type of structural variant">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for pos, vid, r, a in sorted(records):
        info = "SVTYPE=DEL" if a == "<DEL>" else "."
        lines.append(f"{chrom}\t{pos}\t{vid}\t{r}\t{a}\t.\tPASS\t{info}")
    lines.append("chrUn_demo\t100\tmissing_contig\tA\tG\t.\tPASS\t.")
    (HERE / "human" / "variants.vcf").write_text("\n".join(lines) + "\n")
    print(f"{HERE / 'human' / 'variants.vcf'}: {len(lines) - 6} records")


if __name__ == "__main__":
    main()
