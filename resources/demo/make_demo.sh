#!/usr/bin/env bash
# Rebuilds resources/demo/ from the real excerpts in shared/data (see README.md here).
# Usage: bash resources/demo/make_demo.sh PATH/TO/shared/data
set -euo pipefail
src=${1:?usage: make_demo.sh PATH/TO/shared/data}
out=$(cd "$(dirname "$0")" && pwd)
g=$src/genomes
mkdir -p "$out"/{human,mouse,fly,labels,go}
# human: GRCh38 chr1-3 (first 1 Mb) + chr19 (1-2 Mb) in one genome and one GENCODE v22 GTF
{ zcat "$g/human_hg38_chr1-3_first1Mb/genome.fa.gz"; zcat "$g/human_hg38_chr19_1-2Mb/genome.fa.gz"; } | gzip -9 -n > "$out/human/genome.fa.gz"
{ zcat "$g/human_hg38_chr1-3_first1Mb/annotation.gtf.gz"; zcat "$g/human_hg38_chr19_1-2Mb/annotation.gtf.gz"; } | gzip -9 -n > "$out/human/annotation.gtf.gz"
cp "$g/mouse_mm10_chr9_1-4Mb/genome.fa.gz" "$g/mouse_mm10_chr9_1-4Mb/annotation.gtf.gz" "$out/mouse/"
cp "$g/fly_dm6_chr2L2R_1Mb/genome.fa.gz" "$g/fly_dm6_chr2L2R_1Mb/annotation.gtf.gz" "$g/fly_dm6_chr2L2R_1Mb/annotation.refflat.gz" "$out/fly/"
# labels: full Saluki tables, gzipped
for f in all_HLs_human_PC1 all_HLs_mouse_PC1 1to1_orthologs_expression; do
  gzip -9 -n -c "$src/labels/saluki/$f.txt" > "$out/labels/$f.txt.gz"
done
# GO: the full ontology; annotations and id map restricted to genes of the demo human GTF
cp "$src/go/go-basic.obo.gz" "$out/go/"
zcat "$out/human/annotation.gtf.gz" | grep -o 'gene_id "ENSG[0-9]*' | cut -d'"' -f2 | sort -u > "$out/go/.ensg"
zcat "$src/go/human_gene_ids.tsv.gz" | awk -F'\t' 'NR==FNR{k[$1]=1; next} FNR==1 || ($3 in k)' "$out/go/.ensg" - > "$out/go/.ids"
cut -f1 "$out/go/.ids" | tail -n +2 | sort -u > "$out/go/.entrez"
gzip -9 -n -c "$out/go/.ids" > "$out/go/human_gene_ids.tsv.gz"
zcat "$src/go/goa_human.gaf.gz" | awk -F'\t' 'NR==FNR{k[$1]=1; next} /^!/ || ($2 in k)' "$out/go/.entrez" - | gzip -9 -n > "$out/go/goa_human.gaf.gz"
rm -f "$out/go/.ensg" "$out/go/.ids" "$out/go/.entrez"
(cd "$out" && find . -name '*.gz' | sort | xargs sha256sum > SHA256SUMS)
