"""Stage: attributions of the fine-tuned heads the evaluation keeps (rules/attribute.smk).

:mod:`isoclr.attribute.methods`: in-silico mutagenesis and gradient attributions, their files
and the ``isoclr attribute`` command; :mod:`isoclr.attribute.elements`: attribution
aggregated over 3'UTR k-mers and known elements; :mod:`isoclr.attribute.job`: the pipeline job.
"""
