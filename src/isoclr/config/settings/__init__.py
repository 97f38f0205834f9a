"""One typed settings object per pipeline stage, one module per stage.

Each reads the schema-filled config (:func:`isoclr.config.load.load_config`: every default
lives in ``config/schema.yaml``) with ``from_config(config, **wildcards)`` and gives the
plain dict a rule passes as its ``params`` with ``to_params()`` (exactly the settings that job
uses, so Snakemake's ``params`` rerun trigger sees every change that matters and no other).
A stage's module is imported by that stage's code only, so its ``code`` fingerprint
(:mod:`isoclr.config.fingerprint`) changes with its own settings class and no other's.
"""
