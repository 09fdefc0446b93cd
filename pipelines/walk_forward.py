"""Walk-forward pipeline: the same as ``workbench walkforward`` (see ``--help``).

    python pipelines/walk_forward.py --strategy ma_crossover --data sample:SPX \
        --train 756 --test 252 --grid fast=10:100:10 --grid slow=50:300:25 --jobs 2 --out runs/wf

Folds run on a local process pool (``--jobs N``) or on a Dask cluster (``--scheduler
tcp://HOST:8786``); each is an executed notebook in the run folder, with ``summary.json``
and the report notebook beside them. Re-running skips the folds that finished.
"""

from __future__ import annotations

import sys

from workbench.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["walkforward", *sys.argv[1:]]))
