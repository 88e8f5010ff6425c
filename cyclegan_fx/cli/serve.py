"""``cyclegan-fx serve``: a local HTTP service that keeps models loaded (the GIMP plug-in starts it)."""

from __future__ import annotations

import click

from cyclegan_fx.cli.options import device_options, run_options


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1; 0 picks a free one. Clients find it in serve.json.")
@click.option("--idle-timeout", type=click.FloatRange(min=1.0), default=900.0, show_default=True,
              help="Exit after this many seconds without requests or jobs.")
@device_options
@run_options
def serve(port: int, idle_timeout: float, device: str, precision: str, backend: str, options) -> None:
    """Serve translations on 127.0.0.1 to local programs (the GIMP plug-in, curl).

    \b
    The address and a random token go into serve.json in the project's home folder
    ($CYCLEGAN_FX_HOME, else the data folder); every request must send the token:
      curl -H "Authorization: Bearer $TOKEN" $URL/v1/models
    Run options given here apply to every job; a request may set its own strength and work size.
    """
    from cyclegan_fx.serve import ServiceConfig, run_service

    run_service(ServiceConfig(port, idle_timeout, device, precision, backend, options))
