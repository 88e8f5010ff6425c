"""Batch translation at scale: Ray workers, each holding a warm runner, fed lazily from local or object-store
folders; resumable, with every failure accounted for. Needs the ``ray`` extra."""

from cyclegan_fx.scale.job import BatchJob, run_job
from cyclegan_fx.scale.report import Summary

__all__ = ["BatchJob", "Summary", "run_job"]
