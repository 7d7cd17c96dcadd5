"""Training: loop, optimizer/scheduler, checkpoints, DDP."""
