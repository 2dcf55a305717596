"""`syncserver`: the admin command line (thin: it parses arguments and calls libraries)."""

from ._main import build_parser, cli_actor, main

__all__ = ["build_parser", "cli_actor", "main"]
