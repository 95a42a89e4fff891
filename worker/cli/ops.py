"""`onair ops add | list | revoke`: the ops accounts that sign in to the ops pages of `onair api`."""

from __future__ import annotations

from typing import Annotated

import typer

from worker.cli import output
from worker.cli.timeline import AsJson, TzOption, open_store
from worker.cli.timeparse import BadInput, display_zone, iso_utc, show_instant
from worker.clock import SystemClock
from worker.service import accounts
from worker.service.accounts import Account, AccountError
from worker.service.calendar_feed import DEFAULT_PUBLIC_URL

ops_app = typer.Typer(
    help="Ops accounts: they sign in to the ops pages of `onair api`.", no_args_is_help=True
)
OpsName = Annotated[str, typer.Argument(help="The ops person's name, e.g. 'Ana (night shift)'.")]


@ops_app.command("add")
def add(
    name: OpsName,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the token.")] = False,
) -> None:
    """Add an ops account and print its sign-in token once: only its hash is stored."""
    with open_store() as (settings, engine), output.reporting(AccountError):
        account, token = accounts.add_ops(engine, name, now=SystemClock().now())
    if quiet:
        output.info(token)
        return
    where = settings.public_url.strip().rstrip("/") or DEFAULT_PUBLIC_URL
    output.info(f"ops account {account.name!r} added. Its sign-in token (it cannot be shown again):")
    output.info(token)
    output.info(f"Sign in at {where}/login")


@ops_app.command("list")
def list_all(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked accounts.")] = False,
    tz: TzOption = None,
    as_json: AsJson = False,
) -> None:
    """List ops accounts (never their tokens)."""
    with open_store() as (_, engine):
        with output.reporting(BadInput):
            zone = display_zone(tz)
        found = accounts.list_ops(engine, include_revoked=include_revoked)
    if as_json:
        output.print_json([_json(a) for a in found])
        return
    output.print_table(
        ("id", "name", "created", "status"),
        (
            (
                a.id,
                a.name,
                show_instant(a.created_at, zone) if a.created_at else "",
                "active" if a.revoked_at is None else f"revoked {show_instant(a.revoked_at, zone)}",
            )
            for a in found
        ),
        title=f"{len(found)} ops account{'s' if len(found) != 1 else ''}",
    )


@ops_app.command("revoke")
def revoke(name: OpsName) -> None:
    """Revoke an ops account: its token and every session it signed in stop working at once."""
    with open_store() as (_, engine), output.reporting(AccountError):
        account = accounts.revoke_ops(engine, name, now=SystemClock().now())
    output.info(f"ops account {account.name!r} revoked: its token and its sessions no longer work")


def _json(account: Account) -> dict[str, object]:
    return {
        "id": account.id,
        "name": account.name,
        "created_at": iso_utc(account.created_at),
        "revoked_at": iso_utc(account.revoked_at),
    }
