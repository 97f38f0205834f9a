"""Variant effects on mature transcripts (``isoclr variants``, docs/variants.md).

:mod:`~isoclr.variants.vcf` reads the records, :mod:`~isoclr.variants.effects` maps them onto
transcripts and builds the alternative mature RNAs, :mod:`~isoclr.variants.score` embeds and
scores them; :mod:`~isoclr.variants.settings` is the pipeline's config section.
"""
