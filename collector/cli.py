"""`collector`: the field kit's command line (thin: it parses arguments and calls libraries).

The field commands (init, enroll, interview, seal, sync, wipe) arrive with issue #4.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from schemas import __version__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="collector",
        description="sealsync field kit: offline, encrypted interviews",
        epilog="The field commands arrive with the next releases; see README.md.",
    )
    p.add_argument("--version", action="version", version=f"sealsync {__version__}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
