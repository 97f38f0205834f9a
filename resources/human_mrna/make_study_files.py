"""Write the study files of config/human_mrna.yaml from this folder and shared GO files.

    python3 resources/human_mrna/make_study_files.py GO_DIR SALUKI_HUMAN_PC1 OUT_DIR

GO_DIR holds goa_human.gaf.gz and human_gene_ids.tsv.gz (Bioconductor org.Hs.eg.db 3.16.0,
see README.md). SALUKI_HUMAN_PC1 is all_HLs_human_PC1.txt[.gz] (resources/demo/labels/).
Python 3 standard library only; every .gz is written like `gzip -9 -n` (no name, mtime 0), so
two runs give the same bytes. Writes, into OUT_DIR:

* gene_map.tsv.gz: transcript_id, gene_id, gene_name, entrez_id. One gene id per Entrez gene.
  It is an Ensembl gene id, so the store's genes join the Saluki half-life labels directly:
  1. the Ensembl id whose Saluki row has the gene's symbol (so DDTL gets its own id, not
     DDT's);
  2. else the first of its Ensembl ids (sorted) that is in the Saluki table;
  3. else the first sorted one.
  An id chosen by an earlier gene (Entrez ids in numeric order; genes with a rule-1 match
  first) is not reused, so genes sharing ids (DDT/DDTL, CCL3L1/CCL3L3) stay apart. A gene left
  without an Ensembl id keeps its Entrez id. An accession without an Entrez gene keeps its own
  accession as its gene id.
* go/goa_human.gaf.gz: the GAF header and the annotation rows of these Entrez genes.
* go/gene_ids.tsv.gz: entrez_gene_id, symbol, ensembl_gene_id with one row per Entrez gene and
  its chosen id. The GO task then maps each GAF row (Entrez) to exactly one store gene.
* identical_genes.tsv.gz: pairs of different genes whose mRNAs here have an identical
  sequence (a `pairs` homology source), so the homology-aware splits and folds keep them
  together.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from pathlib import Path


def read_text(path: Path) -> list[str]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8").splitlines()


def write_gz(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(("\n".join(lines) + "\n").encode("utf-8"))
    path.write_bytes(buf.getvalue())


def main(go_dir: Path, saluki: Path, out: Path) -> None:
    here = Path(__file__).resolve().parent
    rows = list(csv.DictReader(read_text(here / "genes.tsv.gz"), delimiter="\t"))
    sal = list(csv.DictReader(read_text(saluki), delimiter="\t"))
    sal_name = {r["ensembl_gene_id"]: r["external_gene_name"] for r in sal}
    genes: dict[str, tuple[str, list[str]]] = {}
    for r in rows:
        if r["entrez_id"]:
            ids = sorted(x for x in r["ensembl_gene_id"].split(",") if x)
            genes.setdefault(r["entrez_id"], (r["symbol"], ids))
    order = sorted(genes, key=int)
    rule1 = {g for g in order if any(sal_name.get(e) == genes[g][0] for e in genes[g][1])}
    chosen: dict[str, str] = {}
    taken: set[str] = set()
    for g in [*(g for g in order if g in rule1), *(g for g in order if g not in rule1)]:
        symbol, ids = genes[g]
        free = [e for e in ids if e not in taken]
        pick = next((e for e in free if sal_name.get(e) == symbol), None) \
            or next((e for e in free if e in sal_name), None) or (free[0] if free else g)
        chosen[g] = pick
        taken.add(pick)
    lines = ["transcript_id\tgene_id\tgene_name\tentrez_id"]
    for r in rows:
        g = r["entrez_id"]
        lines.append(f"{r['transcript_id']}\t{chosen[g] if g else r['transcript_id']}\t"
                     f"{r['symbol'] or r['transcript_id']}\t{g}")
    write_gz(out / "gene_map.tsv.gz", lines)

    gaf = read_text(go_dir / "goa_human.gaf.gz")
    keep = [ln for ln in gaf if ln.startswith("!") or ln.split("\t")[1] in genes]
    write_gz(out / "go" / "goa_human.gaf.gz", keep)
    ids = ["entrez_gene_id\tsymbol\tensembl_gene_id"]
    ids += [f"{g}\t{genes[g][0]}\t{chosen[g] if chosen[g].startswith('ENSG') else ''}" for g in order]
    write_gz(out / "go" / "gene_ids.tsv.gz", ids)
    gene_of = {r["transcript_id"]: (chosen[r["entrez_id"]] if r["entrez_id"] else r["transcript_id"]) for r in rows}
    by_seq: dict[str, set[str]] = {}
    name, parts = None, []
    for ln in [*read_text(here / "transcripts.fa.gz"), ">"]:
        if ln.startswith(">"):
            if name is not None:
                by_seq.setdefault("".join(parts).upper(), set()).add(gene_of[name])
            name, parts = ln[1:].split()[0] if ln[1:].strip() else None, []
        else:
            parts.append(ln.strip())
    pairs = sorted({(a, b) for g in by_seq.values() if len(g) > 1 for a in sorted(g) for b in sorted(g) if a < b})
    write_gz(out / "identical_genes.tsv.gz",
             ["# genes with an identical mRNA sequence in transcripts.fa.gz (homology pairs, no header)"]
             + [f"{a}\t{b}" for a, b in pairs])
    n_ens = sum(chosen[g].startswith("ENSG") for g in order)
    print(f"{len(rows)} transcripts, {len(genes)} Entrez genes ({n_ens} with an Ensembl id), "
          f"{sum(1 for ln in keep if not ln.startswith('!'))} GO annotations, {len(pairs)} identical-sequence gene pairs")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
