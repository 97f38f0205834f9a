# Stage: variant effects (src/isoclr/variants/, docs/variants.md). One target per VCF of config
# `variants.vcfs`: results/variants/{vcf}.tsv, every record on every transcript it touches, with
# its region, coding change, the embedding distance of the alternative mature RNA and the change
# of each head's prediction. The genome is first copied once per species to bgzip + .fai (random
# access: scoring reads only the touched transcripts).


rule variants_genome:
    input:
        genome=lambda w: genome_path(w.species),
    output:
        genome=results("variants", "genomes", "{species}.fa.gz"),
        fai=results("variants", "genomes", "{species}.fa.gz.fai"),
        gzi=results("variants", "genomes", "{species}.fa.gz.gzi"),
    log:
        log_path("variants_genome", "{species}.log"),
    benchmark:
        bench_path("variants_genome", "{species}.tsv")
    conda:
        "../envs/variants.yaml"
    params:
        code=code("variants_genome"),
    script:
        "../workflow/scripts/variants_genome.py"


rule variants:
    input:
        unpack(variants_inputs),
    output:
        table=report(
            results("variants", "{vcf}.tsv"),
            caption="../docs/report/variants.rst",
            category="Variants",
            labels={"vcf": "{vcf}"},
        ),
    log:
        log_path("variants", "{vcf}.log"),
    benchmark:
        bench_path("variants", "{vcf}.tsv")
    conda:
        "../envs/variants.yaml"
    threads: rule_resources("variants", "threads", 2)
    resources:
        mem_mb=rule_resources("variants", "mem_mb", 4000),
        runtime=rule_resources("variants", "runtime", 60),
    params:
        settings=variants_settings,
        code=code("variants"),
    script:
        "../workflow/scripts/variants.py"
