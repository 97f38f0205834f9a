"""Stage `pretrain`: architecture, encoder, losses, loader and the training loop."""
