"""Runners opened for a model: the backend chosen, compiled programs built on demand, warm runners cached,
and the one path of an image file through a runner (read, translate, write)."""
