import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.download.fetch import fetch  # noqa: E402
from isoclr.config.settings.download import DownloadSettings  # noqa: E402

job_log(snakemake, "download one input file (verified, retried, atomic)")  # noqa: F821
s = snakemake.params.settings  # noqa: F821  what: url, sha256, size (isoclr.config.settings.DownloadSettings)
# how (retries, timeout, deadline, backoff) does not change the file, so it is not a param (no reruns)
how = DownloadSettings.from_config(snakemake.config, snakemake.wildcards.path)  # noqa: F821
fetch(s["url"], snakemake.output[0], sha256=s["sha256"], size=s["size"],  # noqa: F821
      retries=how.retries, timeout=how.timeout, backoff=how.backoff, deadline=how.deadline)
