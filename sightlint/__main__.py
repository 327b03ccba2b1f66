"""``python -m sightlint``: the command line, with the working folder off ``sys.path``.

``python -m`` puts the working folder first on ``sys.path``, so run from a repository
root it would import that repository's ``click.py``, ``tomllib.py`` or ``libcst/``
instead of ours: code of the project being analysed. It is dropped before anything else
is imported (as pylint does). A ``sightlint.py`` or ``sightlint/`` in the working folder
would still be run in our place by ``python -m`` itself: use the ``sightlint`` console
script, or ``python -P -m sightlint`` (Python 3.11+), which never adds the folder.
"""

import os
import sys


def _drop_working_folder() -> None:
    """Remove the entry ``-m`` added for the working folder (first; none with ``-P``)."""
    if not sys.path:
        return
    try:
        cwd = os.getcwd()
    except OSError:  # the folder was deleted: only "" and "." can name it
        cwd = ""
    if sys.path[0] in ("", ".", cwd):
        del sys.path[0]
    # An empty PYTHONPATH entry (a leading, trailing or doubled separator) or "." names
    # the working folder too; PYTHONPATH's entries come next on sys.path, before the
    # standard library (a later entry that is the working folder, from an editable
    # install say, is left alone).
    entries = os.environ.get("PYTHONPATH", "").split(os.pathsep) if os.environ.get("PYTHONPATH") else []
    if any(entry in ("", ".") for entry in entries):
        span = len(entries)
        sys.path[:span] = [entry for entry in sys.path[:span] if entry not in ("", ".", cwd)]


_drop_working_folder()

from sightlint.cli import main, run  # noqa: E402  (after the guard, on purpose)

if __name__ == "__main__":
    run()
