"""``python -m workbench ...``: the ``workbench`` command, for when the script is not on PATH."""

from workbench.cli.main import main

raise SystemExit(main())
