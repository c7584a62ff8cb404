"""``python -m e2t_discovery.cli`` runs the ``e2t`` command line."""

from e2t_discovery.cli import main

main()
