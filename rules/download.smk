# Stage: downloads (genomes, annotations, homology tables, labels). See docs/interfaces.md.
# Every output is gzip-compressed (a .gz source keeps its bytes; a plain source is compressed
# while it is written), verified and written atomically by isoclr.download.fetch.


include: "data_common.smk"


localrules:
    download_genome,
    download_species_input,
    download_annotation,
    download_homology,
    download_file,


rule download_genome:
    output:
        results("downloads", "{species}", "genome.fa.gz"),
    log:
        "logs/download_genome/{species}.log",
    benchmark:
        results("benchmarks", "download_genome", "{species}.tsv")
    conda:
        "../envs/data.yaml"
    resources:
        runtime=rule_resources("download", "runtime", 120),
    params:
        remote=genome_remote,
        settings=config["download"],
    script:
        "../workflow/scripts/download.py"


rule download_species_input:
    output:
        results("downloads", "{species}", "{kind}.gz"),
    log:
        "logs/download_species_input/{species}.{kind}.log",
    benchmark:
        results("benchmarks", "download_species_input", "{species}.{kind}.tsv")
    wildcard_constraints:
        kind="|".join(re.escape(k) for k in SPECIES_INPUTS),
    conda:
        "../envs/data.yaml"
    resources:
        runtime=rule_resources("download", "runtime", 120),
    params:
        remote=species_input_remote,
        settings=config["download"],
    script:
        "../workflow/scripts/download.py"


rule download_annotation:
    output:
        results("downloads", "{species}", "annotation.{fmt}.gz"),
    log:
        "logs/download_annotation/{species}.{fmt}.log",
    benchmark:
        results("benchmarks", "download_annotation", "{species}.{fmt}.tsv")
    wildcard_constraints:
        fmt="|".join(ANNOTATION_FORMATS),
    conda:
        "../envs/data.yaml"
    resources:
        runtime=rule_resources("download", "runtime", 120),
    params:
        remote=annotation_remote,
        settings=config["download"],
    script:
        "../workflow/scripts/download.py"


rule download_homology:
    output:
        results("downloads", "homology", "{name}.gz"),
    log:
        "logs/download_homology/{name}.log",
    benchmark:
        results("benchmarks", "download_homology", "{name}.tsv")
    wildcard_constraints:
        name=names_regex(config["homology"]["sources"]),
    conda:
        "../envs/data.yaml"
    resources:
        runtime=rule_resources("download", "runtime", 120),
    params:
        remote=homology_remote,
        settings=config["download"],
    script:
        "../workflow/scripts/download.py"


rule download_file:
    output:
        results("downloads", "files", "{name}.gz"),
    log:
        "logs/download_file/{name}.log",
    benchmark:
        results("benchmarks", "download_file", "{name}.tsv")
    wildcard_constraints:
        name=names_regex(config["download"]["files"]),
    conda:
        "../envs/data.yaml"
    resources:
        runtime=rule_resources("download", "runtime", 120),
    params:
        remote=file_remote,
        settings=config["download"],
    script:
        "../workflow/scripts/download.py"
