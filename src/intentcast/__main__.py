"""``python -m intentcast`` is the ``intentcast`` command."""

from intentcast.cli import main

main()
