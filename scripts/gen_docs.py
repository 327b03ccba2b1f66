"""Regenerate docs/rules/ from the rules' source: ``python scripts/gen_docs.py [--check]``.

``--check`` writes nothing and exits 1 if a committed page differs from the generated one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document this checkout, not whatever sightlint is installed

from sightlint.docs import stale_docs, write_docs  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report stale pages; exit 1 if any")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_docs(args.root)
        for name in stale:
            print(f"stale: {name}")
        if stale:
            print("Run `python scripts/gen_docs.py` and commit docs/rules/.")
            return 1
        print("docs/rules/ is up to date.")
        return 0
    changed = write_docs(args.root)
    for path in changed:
        print(f"wrote {path.relative_to(args.root)}" if path.exists() else f"removed {path.relative_to(args.root)}")
    print(f"{len(changed)} page(s) changed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
