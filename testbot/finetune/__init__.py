"""Fine-tuning: mine and augment training pairs (mine, augment, data), train and evaluate (train, evaluate)."""
