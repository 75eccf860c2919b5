"""`python -m resnas.labs run|handout|settings`: see resnas.labs."""
from __future__ import annotations

import argparse
import sys

from resnas import labs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m resnas.labs", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute every lab (solved by default) into OUT")
    run.add_argument("--out", default=str(labs.REPOSITORY / "results" / "labs"))
    run.add_argument("--unsolved", action="store_true", help="run with solved=False (the TODOs raise)")
    run.add_argument("labs", nargs="*", help="lab names (default: all)")
    ho = sub.add_parser("handout", help="write the student folder DEST (no solutions, solved=False)")
    ho.add_argument("dest")
    sub.add_parser("settings", help="make JupyterLab in this environment open .py sources as notebooks")
    args = ap.parse_args(argv)
    try:
        if args.command == "run":
            labs.run_labs(args.out, solved=not args.unsolved, labs=args.labs or None)
        elif args.command == "handout":
            print(f"handout written to {labs.handout(args.dest)}")
        else:
            print(f"JupyterLab setting installed: {labs.install_lab_settings()}")
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
