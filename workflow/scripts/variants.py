import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402

sm = snakemake  # noqa: F821
if sm.rule == "variants_genome":
    from isoclr.variants.genome import bgzip_fasta

    job_log(sm, "a random-access (bgzip + .fai) copy of a genome, for variant scoring")
    bgzip_fasta(sm.input.genome, sm.output.genome)
else:
    import torch

    from isoclr.variants.score import load_heads, load_model, score_variants, write_table

    log = job_log(sm, "score a VCF's variants on the transcripts they touch")
    s = dict(sm.params.settings)  # isoclr.variants.settings.VariantsSettings
    torch.set_num_threads(max(int(sm.threads), 1))
    model = load_model(sm.input.checkpoint, batch_size=s["batch_size"])
    table = score_variants(sm.input.vcf, sm.input.genome, sm.input.annotation, model, load_heads(s["heads"]),
                           max_indel=s["max_indel"])
    write_table(table, sm.output.table)
    counts = table.attrs["counts"]
    log.info("%s: %d records, %d variant x transcript rows; records per outcome: %s", sm.output.table,
             table["vcf_line"].nunique(), len(table), ", ".join(f"{v} {k}" for k, v in counts.items()))
