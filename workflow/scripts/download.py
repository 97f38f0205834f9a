import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.jobs import start as start_job  # noqa: E402

from isoclr.download import fetch  # noqa: E402

start_job(snakemake.log[0], snakemake.rule)  # noqa: F821
remote, settings = snakemake.params.remote, snakemake.params.settings  # noqa: F821
fetch(remote["url"], snakemake.output[0], sha256=remote.get("sha256"), size=remote.get("size"),  # noqa: F821
      retries=settings.get("retries", 3), timeout=settings.get("timeout", 120),
      backoff=settings.get("backoff", 5), deadline=settings.get("deadline", 21600))
