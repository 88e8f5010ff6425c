"""Training CycleGAN: configuration, data, the loop, checkpoints, reports and export to the model store."""
