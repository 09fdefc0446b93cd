"""``workbench batch``: one parameterised notebook over a YAML list of parameter sets."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch",
        help="run a parameterised notebook over a YAML list of parameter sets",
        description=(
            "Execute a papermill notebook once per parameter set of a YAML file (a list, or "
            "runs:/product: keys), in parallel processes or on a Dask cluster. Each run is kept "
            "as an executed notebook in --out; batch.json lists the outcomes. Re-running skips "
            "the runs that finished."
        ),
    )
    p.add_argument("parameters", help="YAML file of parameter sets")
    p.add_argument("--notebook", help="the template (default: the file's template: key)")
    p.add_argument("--jobs", type=int, default=1, help="notebooks run in parallel (processes)")
    p.add_argument("--scheduler", help="Dask scheduler address: run on that cluster")
    p.add_argument("--force", action="store_true", help="re-run the runs that already finished")
    p.add_argument("--out", required=True, help="folder for the executed notebooks")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.cli.flags import check_jobs
    from workbench.research.batch import run_batch

    check_jobs(args.jobs)  # before --out is made

    outcomes = run_batch(
        args.parameters,
        args.out,
        template=args.notebook,
        workers=args.jobs,
        scheduler=args.scheduler,
        force=args.force,
    )
    for o in outcomes:
        note = f"  {o.error} (see {o.notebook})" if o.status == "failed" else ""
        print(f"{o.status:<8} {o.name:<24} {o.seconds:6.1f} s  {o.notebook}{note}")
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        print(f"{len(failed)} of {len(outcomes)} runs failed", file=sys.stderr)
    print(f"wrote {args.out}/batch.json, batch.csv and report.html")
    return 1 if failed else 0
