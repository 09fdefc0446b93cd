"""Batch pipeline: the same as ``workbench batch`` (see ``--help``).

    python pipelines/batch.py pipelines/examples/strategies_by_symbol.yaml --jobs 2 --out runs/batch

Executes a parameterised notebook once per parameter set of a YAML file, on a local
process pool or a Dask cluster (``--scheduler``); re-running skips the finished runs.
"""

from __future__ import annotations

import sys

from workbench.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["batch", *sys.argv[1:]]))
