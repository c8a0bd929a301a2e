"""``locator settings``: every ``LOCATOR_*`` setting, its meaning, default and current value."""

from __future__ import annotations

import click

from ..settings import load_settings, settings_table


@click.command("settings")
def settings_cmd() -> None:
    """List the LOCATOR_* settings (environment variables) with their defaults and the
    values in effect now."""
    try:
        current = load_settings()
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    for name, doc, default in settings_table():
        value = getattr(current, name[len("LOCATOR_"):].lower())
        shown = "(none)" if value in (None, "") else str(value)
        if name == "LOCATOR_SECRET_KEY" and value:
            shown = "(set)"
        mark = "" if shown == default else "   <- set"
        click.echo(f"{name:<30} {shown}{mark}\n    {doc} [default: {default}]")
