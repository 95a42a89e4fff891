"""`onair streams ...`: the operator's tool over the FastPix client."""

import typer

app = typer.Typer(help="Inspect and control FastPix live streams directly.", no_args_is_help=True)
