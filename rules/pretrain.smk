# Stage: pre-training. See docs/interfaces.md.


def pretrain_targets():
    return []
