"""`syncserver`: the admin command line (thin: it parses arguments and calls libraries)."""

from ._common import cli_actor
from ._main import build_parser, main

__all__ = ["build_parser", "cli_actor", "main"]
