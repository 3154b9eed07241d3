"""``python -m maillab``: the same command line as the ``maillab`` script."""

from maillab.cli import main

raise SystemExit(main())
