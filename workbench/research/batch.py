"""Run one parameterised notebook over a list of parameter sets (a YAML file), in parallel.

The YAML file is either a list of parameter sets, or a mapping with any of::

    template: backtest_run.ipynb   # a notebook's path, or a template workbench ships
    parameters: {cash: 50000}                           # shared by every run
    runs:                                               # explicit sets...
      - {name: spx_slow, data: "sample:SPX", params: {fast: 50, slow: 200}}
    product:                                            # ...and/or every combination
      data: ["sample:SPX", "sample:NASDAQ"]
      params: [{fast: 20, slow: 100}, {fast: 50, slow: 200}]

Each set becomes one executed notebook ``OUT/NAME.ipynb`` (``name`` is optional: runs are
numbered otherwise). When the template declares an ``out`` parameter, each run gets its
own folder ``OUT/NAME``. Parameters the template does not declare are refused (a typo
would otherwise be silently ignored). Execution, failure reporting and resume are those
of :mod:`workbench.research.notebook_runner`; ``batch.json`` lists every outcome, and
``batch.csv``, ``comparison.png`` and the index ``report.html`` compare the runs' results
(:mod:`workbench.reports.batch`).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from workbench.errors import ConfigError
from workbench.outdir import output_folder
from workbench.research.notebook_runner import (
    JobOutcome,
    NotebookJob,
    import_papermill,
    run_notebooks,
)
from workbench.resources import template_path
from workbench.yamlerror import describe, read_text

__all__ = ["load_parameter_sets", "run_batch", "template_parameters"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def load_parameter_sets(path: str | Path) -> tuple[str | None, list[dict[str, Any]]]:
    """The template named in the file (or None) and the named parameter sets."""
    path = Path(path)
    try:
        doc = yaml.safe_load(read_text(path, "the batch file"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {describe(exc)}") from None
    template = None
    if isinstance(doc, list):
        sets, shared = list(doc), {}
    elif isinstance(doc, Mapping):
        unknown = sorted(set(doc) - {"template", "parameters", "runs", "product"})
        if unknown:
            raise ConfigError(
                f"{path}: unknown key(s) {', '.join(unknown)}",
                hint="use template, parameters, runs and product",
            )
        template = doc.get("template")
        if template is not None and not isinstance(template, str):
            raise ConfigError(
                f"{path}: template must be a notebook's name or path, got {template!r}",
                hint="e.g. template: backtest_run.ipynb",
            )
        shared = _mapping(doc.get("parameters") or {}, f"{path}: parameters")
        runs = doc.get("runs") or []
        if not isinstance(runs, list):
            raise ConfigError(
                f"{path}: runs must be a list of parameter sets, got {runs!r}",
                hint="write each run as a list item: runs: [{name: a, start: '2015-01-01'}]",
            )
        sets = runs + _product(doc.get("product"), path)
    else:
        raise ConfigError(f"{path}: expected a list of parameter sets or a mapping")
    if not sets:
        raise ConfigError(f"{path}: no parameter sets", hint="add a runs: list or a product:")
    named: list[dict[str, Any]] = []
    for i, item in enumerate(sets):
        values = {**shared, **_mapping(item, f"{path}: run {i}")}
        name = str(values.pop("name", f"run_{i:03d}"))
        if not _NAME.match(name):
            raise ConfigError(f"{path}: run name {name!r} may use letters, digits, _ . - only")
        named.append({"name": name, "parameters": values})
    names = [n["name"] for n in named]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"{path}: duplicated run name(s) {', '.join(duplicated)}")
    return template, named


def template_parameters(template: str | Path) -> set[str]:
    """The names the template's ``parameters`` cell declares.

    A file that is not a notebook fails inside nbformat in as many ways as it can be broken
    (not JSON, not text, cells of the wrong shape: ValueError, UnicodeDecodeError, TypeError,
    jsonschema's ValidationError...); whichever it is, the file is what to fix."""
    papermill = import_papermill()
    try:
        return set(papermill.inspect_notebook(str(template)))
    except Exception as exc:  # any failure to read it: named in one line
        raise ConfigError(
            f"{template} cannot be read as a notebook: {type(exc).__name__}: {describe(exc)}",
            hint="give a Jupyter notebook (.ipynb) with a cell tagged parameters",
        ) from None


def run_batch(
    parameter_file: str | Path,
    out: str | Path,
    *,
    template: str | Path | None = None,
    workers: int = 1,
    scheduler: Any = None,
    force: bool = False,
    progress: bool = True,
) -> list[JobOutcome]:
    """Execute the template once per parameter set; write ``OUT/batch.json``; return outcomes."""
    from_file, sets = load_parameter_sets(parameter_file)
    chosen = template or from_file
    if chosen is None:
        raise ConfigError(
            "no notebook to run", hint="give --notebook or a template: key in the YAML file"
        )
    chosen_path = Path(chosen)
    if not chosen_path.is_absolute() and not chosen_path.exists() and template is None:
        chosen_path = Path(parameter_file).parent / chosen_path  # relative to the YAML file
    if not chosen_path.is_file() and Path(chosen).name == str(chosen):
        chosen_path = template_path(str(chosen))  # a template the package ships
    if not chosen_path.is_file():
        raise ConfigError(f"notebook {chosen} does not exist")
    declared = template_parameters(chosen_path)
    out = Path(out)
    jobs = []
    for item in sets:
        parameters = dict(item["parameters"])
        unknown = sorted(set(parameters) - declared)
        if unknown:
            raise ConfigError(
                f"run {item['name']}: {chosen_path.name} has no parameter(s) {', '.join(unknown)}",
                hint=f"its parameters: {', '.join(sorted(declared)) or 'none'}",
            )
        if "out" in declared and "out" not in parameters:
            parameters["out"] = str((out / item["name"]).resolve())
        jobs.append(
            NotebookJob(
                name=item["name"],
                template=chosen_path.resolve(),
                output=out / f"{item['name']}.ipynb",
                parameters=parameters,
                cwd=chosen_path.resolve().parent,
            )
        )
    output_folder(out)
    outcomes = run_notebooks(
        jobs, workers=workers, scheduler=scheduler, force=force, progress=progress, desc="batch"
    )
    doc = {
        "template": str(chosen_path),
        "runs": [
            {**o.to_dict(), "parameters": job.parameters}
            for o, job in zip(outcomes, jobs, strict=True)
        ],
    }
    (out / "batch.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    from workbench.reports.batch import write_batch_report

    write_batch_report(out, outcomes, [job.parameters for job in jobs], template=str(chosen_path))
    return outcomes


def _product(spec: Any, path: Path) -> list[dict[str, Any]]:
    if spec is None:
        return []
    spec = _mapping(spec, f"{path}: product")
    names = list(spec)
    lists = []
    for name in names:
        values = spec[name]
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: product.{name} must be a non-empty list")
        lists.append(values)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*lists)]


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping of parameter names to values")
    return {str(k): v for k, v in value.items()}
