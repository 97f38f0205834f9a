# Stage: downloads (genomes, annotations, homology tables, label files), one rule for every
# configured URL: results/downloads/{path} where path is SPECIES/genome.fa.gz,
# SPECIES/annotation.FORMAT.gz, homology/NAME.gz or files/NAME.gz (isoclr.config.study.downloads).
# Every output is gzip-compressed (a .gz source keeps its bytes; a plain source is compressed
# while it is written), verified and written atomically by isoclr.download.fetch.fetch.


localrules:
    download,


rule download:
    output:
        results("downloads", "{path}"),
    log:
        log_path("download", "{path}.log"),
    benchmark:
        bench_path("download", "{path}.tsv")
    wildcard_constraints:
        path=download_regex(),
    conda:
        "../envs/data.yaml"
    resources:
        runtime=rule_resources("download", "runtime", 120),
    params:
        settings=download_settings,
        code=code("download"),
    script:
        "../workflow/scripts/download.py"
