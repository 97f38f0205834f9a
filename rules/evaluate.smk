# Stage: linear probes, fine-tuning and baselines per task x model x fraction x fold.


def evaluation_targets():
    return []
