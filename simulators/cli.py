"""``python -m simulators``: the simulators from the command line.

``scenario FILE --url ws://...``  play a scenario file, exit 1 on any mismatch;
``load --url ws://... --chargers N``  drive a central system with N chargers.
"""

from __future__ import annotations

import argparse
import sys

from simulators.load import cli as load_cli
from simulators.scenario import cli as scenario_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulators",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    scenario_cli.add_parser(sub)
    load_cli.add_parser(sub)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
