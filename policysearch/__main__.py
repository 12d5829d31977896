"""``python -m policysearch`` runs the command line."""

from __future__ import annotations

from policysearch.cli import main_entry

if __name__ == "__main__":
    main_entry()
