"""Inference: the tile planner, the sweep schedule, backends and the runner."""
