"""The pipeline's config: one loader (``load``: layering, schema validation filling every
default, reference ``checks``), the study's job graph (``study``, ``graph``), the names the code
knows (``registry``), one settings module per stage (``settings``), the code fingerprints of the
rules (``fingerprint``), and what a study costs (``plan``, ``cost``)."""
