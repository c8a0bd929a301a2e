"""Staff account commands: ``locator users ...`` and ``locator tokens ...``."""

from __future__ import annotations

import click

#: Command groups added to ``locator`` by :mod:`locator.cli.main`.
COMMANDS: list[click.Command] = []
