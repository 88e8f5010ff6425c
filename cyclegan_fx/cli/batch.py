"""``cyclegan-fx batch``: translate every image below SOURCES into DEST on a Ray cluster, resumably."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from cyclegan_fx.cli.options import model_options, run_options

log = logging.getLogger("cyclegan_fx")


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("-o", "--output", "destination", required=True,
              help="Destination folder, or a URI of one (s3://bucket/prefix, gs://..., file:///...).")
@click.option("--recursive", is_flag=True, help="Include images in subfolders of folder sources.")
@click.option("--address", default=None,
              help="Ray cluster to join: 'auto' (the one 'ray start' made on this machine) or HOST:6379. "
                   "Default: a Ray runtime started on this machine for this job.")
@click.option("--actors", type=click.IntRange(min=1), default=None,
              help="Workers, each holding the model once. Default: one per GPU of the cluster, else one per "
                   "--threads CPUs.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPUs per worker (a CPU worker's runner threads). Default: 1 per GPU worker, 4 per CPU worker "
                   "(at most the cluster's CPUs).")
@click.option("--failures", type=click.Path(dir_okay=False, path_type=Path),
              default="cyclegan-fx-failures.jsonl", show_default=True,
              help="Report of the inputs that failed, one JSON object per line (path, reason); rewritten by each run.")
@model_options
@run_options
def batch(sources, destination, recursive, address, actors, threads, failures, model, direction, device, precision,
          backend, options) -> None:
    """Translate the images of SOURCES (folders, files or their URIs) into a folder with Ray workers.

    Run it again after an interruption: outputs that exist are complete and are skipped.
    Failures never stop the job; they are listed in the failures report.
    """
    from cyclegan_fx.cli.progress import CountProgress
    from cyclegan_fx.scale.job import BatchJob, run_job

    job = BatchJob(tuple(sources), destination, recursive, model, direction, device, precision, backend, options,
                   address, actors, threads, failures)
    progress = CountProgress()

    def show(outcome) -> None:
        progress.advance(f"FAILED {outcome.reason}" if outcome.status == "failed" else None)

    try:
        summary = run_job(job, show, progress.set_total)
    finally:
        progress.close()
    log.info("%s", summary.sentence())
    if summary.failed:
        raise click.ClickException(f"{summary.failed} input(s) failed; see {failures}.")
