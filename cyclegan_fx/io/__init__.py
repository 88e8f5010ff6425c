"""Reading and writing user files: images (and, later, video)."""
