# Stage: attributions of the heads the evaluation keeps (src/isoclr/attribute/, docs/models.md).
# One target per head of config `attribute.heads` (TASK/MODEL): results/attributions/TASK/MODEL.h5,
# the contribution of every nucleotide of the first fold-0 test transcripts to the head's
# prediction (in-silico mutagenesis and/or gradients), a figure per transcript, and the 3'UTR
# k-mer and known-element reading (.elements.tsv, .kmers.tsv).


rule attribute:
    input:
        unpack(attribute_inputs),
    output:
        table=results("attributions", "{task}", "{netmodel}.h5"),
        figures=report(
            directory(results("attributions", "{task}", "{netmodel}.figures")),
            patterns=["{transcript}.png"],
            caption="../docs/report/attribution.rst",
            category="Attributions",
            labels={"head": "{task} / {netmodel}", "transcript": "{transcript}"},
        ),
        elements=report(
            results("attributions", "{task}", "{netmodel}.elements.tsv"),
            caption="../docs/report/attribution_elements.rst",
            category="Attributions",
            labels={"head": "{task} / {netmodel}", "transcript": "3'UTR elements"},
        ),
        kmers=results("attributions", "{task}", "{netmodel}.kmers.tsv"),
    log:
        log_path("attribute", "{task}", "{netmodel}.log"),
    benchmark:
        bench_path("attribute", "{task}", "{netmodel}.tsv")
    wildcard_constraints:
        netmodel=network_regex(),
    conda:
        "../envs/attribute.yaml"
    threads: rule_resources("attribute", "threads", 2)
    resources:
        mem_mb=rule_resources("attribute", "mem_mb", 8000),
        runtime=rule_resources("attribute", "runtime", 120),
    params:
        settings=attribute_settings,
        code=code("attribute"),
    script:
        "../workflow/scripts/attribute.py"
