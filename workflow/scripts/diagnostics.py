import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.evaluate.diagnose import run_diagnostics  # noqa: E402

job_log(snakemake, "diagnostics of one frozen encoder on the held-out transcripts")  # noqa: F821
sm = snakemake  # noqa: F821
s = dict(sm.params.settings)  # isoclr.config.settings.DiagnosticsSettings
run_diagnostics(s.pop("encoder"), sm.output[0], sm.input.sets, sm.input.splits,
                dict(zip(sm.params.species, sm.input.stores)), sm.input.get("orthologs"),
                checkpoint=sm.input.get("checkpoint"), threads=sm.threads, **s)
