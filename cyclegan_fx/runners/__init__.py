"""Runners opened for a model: the backend chosen, compiled programs built on demand, warm runners cached."""
