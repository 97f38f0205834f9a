# Helpers of the data stage (downloads, stores, homology sets, splits): paths, config
# look-ups and targets. Included from rules/download.smk; kept apart because snakemake --lint
# wants functions and rules in separate files.


# --- used by rules/download.smk ---
import re

ANNOTATION_FORMATS = ["gtf", "gff3", "genepred", "refflat", "bed12"]
# file-name endings that name an annotation format (used when format is `auto`)
ANNOTATION_SUFFIXES = {
    "gtf": "gtf",
    "gff": "gff3",
    "gff3": "gff3",
    "genepred": "genepred",
    "gp": "genepred",
    "refflat": "refflat",
    "bed": "bed12",
    "bed12": "bed12",
}


def names_regex(names):
    """A wildcard constraint matching exactly one of `names` (nothing when empty)."""
    names = list(names)
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def annotation_format(species):
    """The annotation format of a species: from config, or from the URL's file name."""
    ann = config["species"][species]["annotation"]
    fmt = ann.get("format", "auto")
    if fmt != "auto":
        return fmt
    name = ann["url"].rsplit("/", 1)[-1].lower()
    name = re.sub(r"\.(gz|bgz)$", "", name)
    ext = name.rsplit(".", 1)[-1]
    if ext not in ANNOTATION_SUFFIXES:
        raise ValueError(
            f"species {species}: cannot tell the annotation format from {ann['url']}; "
            f"set species.{species}.annotation.format to one of {ANNOTATION_FORMATS}"
        )
    return ANNOTATION_SUFFIXES[ext]


def genome_path(species):
    return results("downloads", species, "genome.fa.gz")


def annotation_path(species):
    return results("downloads", species, f"annotation.{annotation_format(species)}.gz")


def homology_path(name):
    return results("downloads", "homology", f"{name}.gz")


def downloaded_file(name):
    """The local copy of config `download.files.NAME` (for other stages' rules)."""
    return results("downloads", "files", f"{name}.gz")


def genome_remote(wildcards):
    return config["species"][wildcards.species]["genome"]


# species inputs besides genome and annotation: file name in results/downloads/{species}/ -> config key
SPECIES_INPUTS = {"transcripts.fa": "transcripts", "gene_map.tsv": "gene_map"}


def species_input_remote(wildcards):
    return config["species"][wildcards.species][SPECIES_INPUTS[wildcards.kind]]


def annotation_remote(wildcards):
    return config["species"][wildcards.species]["annotation"]


def homology_remote(wildcards):
    return config["homology"]["sources"][wildcards.name]


def file_remote(wildcards):
    return config["download"]["files"][wildcards.name]


# --- used by rules/isoforms.smk ---
def data_targets():
    """The data stage's outputs: every species store, the transcript sets and the splits."""
    return expand(results("stores", "{species}.h5"), species=SPECIES) + [
        results("homology", "sets.h5"),
        results("splits", "splits.tsv"),
    ]


def store_inputs(wildcards):
    """The store's sequence source: the genome, or transcripts (+ gene map) in its place."""
    sp = config["species"][wildcards.species]
    out = {"annotation": annotation_path(wildcards.species)}
    if "transcripts" in sp:
        out["transcripts"] = results("downloads", wildcards.species, "transcripts.fa.gz")
        if "gene_map" in sp:
            out["gene_map"] = results("downloads", wildcards.species, "gene_map.tsv.gz")
    else:
        out["genome"] = genome_path(wildcards.species)
    return out


def store_gene_map(wildcards):
    """Columns of species.NAME.gene_map (transcript stores), or nothing."""
    gm = config["species"][wildcards.species].get("gene_map") or {}
    return {"gene_column": gm.get("gene_column"), "name_column": gm.get("name_column")}


def store_filters(wildcards):
    """Top-level `filters`, overridden key by key by species.NAME.filters."""
    merged = dict(config["filters"])
    merged.update(config["species"][wildcards.species].get("filters", {}))
    return merged


def store_provenance(wildcards):
    """Store attributes describing where the inputs came from (sha256s are computed locally)."""
    sp = config["species"][wildcards.species]
    return {
        "taxid": sp.get("taxid", ""),
        "genome_url": sp["genome"]["url"] if "genome" in sp else "",
        "transcripts_url": sp["transcripts"]["url"] if "transcripts" in sp else "",
        "annotation_url": sp["annotation"]["url"],
        "annotation_version": sp["annotation"].get("version", ""),
    }


def store_format(wildcards):
    return annotation_format(wildcards.species)


def store_aliases(wildcards):
    return config["species"][wildcards.species].get("chrom_aliases", {})


# --- used by rules/homology.smk ---
def homology_sources():
    """Names of the configured homology tables."""
    return list(config["homology"]["sources"])


def homology_source_specs():
    """One dict per homology table (name, format, local path, species) for the script."""
    return [
        {
            "name": name,
            "format": src["format"],
            "path": homology_path(name),
            "species": list(src.get("species", [])),
        }
        for name, src in config["homology"]["sources"].items()
    ]


def species_taxids():
    """Species -> NCBI taxid, where the config gives one (HomoloGene matching)."""
    return {sp: cfg["taxid"] for sp, cfg in config["species"].items() if "taxid" in cfg}


# --- used by rules/splits.smk ---
def splits_seed():
    """The splits seed: splits.seed, or the top-level seed when that is null."""
    seed = config["splits"]["seed"]
    return config["seed"] if seed is None else seed
