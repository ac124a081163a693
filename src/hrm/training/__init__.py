"""Training: optimisers, learning-rate schedule, EMA of the weights, and the training loop."""
