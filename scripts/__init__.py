"""Developer tools: setup, training, test and benchmark drivers, and the real-server harness."""
