"""Versioned, immutable strategy bundles: what promotion writes and the live runner runs.

``promoted/<strategy>/<version>/`` holds

- ``manifest.json``: strategy import path and parameters, SHA-256 of the strategy's
  source and of the installed workbench, the Python and numeric packages' versions, the
  data spec, requested range and fingerprint, the walk-forward run the gates read, gate
  results, metrics, the run spec (``run_spec``: symbols, timeframe, session, calendar,
  cash, costs, volume limit, lot size, margin, risk rules, execution policy; the only
  settings a run of the bundle reads), the creation time, a forced promotion's reason,
  and every other file's SHA-256 (``files``);
- ``strategy.py``: a copy of the strategy's source, byte for byte;
- ``manifest.sha256``: the SHA-256 of ``manifest.json``;
- ``report.md`` (the gate table), ``report.html`` (the full-sample backtest report with the
  gates) and ``walkforward.html`` (the walk-forward run's report, when promoted from one).

The manifest's ``files`` maps every other file of the folder to its SHA-256. A bundle is
written whole into a hidden staging folder beside its version folders and renamed into
place, so a promotion that dies midway leaves no version behind (and takes no version
number); files are read-only and a version folder is never reused or overwritten.
:func:`verify` checks every hash (a file changed, missing or added is named) and that the
installed strategy's source is still the promoted one; the runner refuses a bundle that
does not verify. Bundles written before ``files`` was recorded verify their manifest and
``strategy.py`` only. :func:`drift` names how the installed workbench differs from the one
that promoted the bundle: :func:`load_bundle` logs it as a warning and goes on (the
engine's code changes with every release; the strategy's own source may not).
"""

from __future__ import annotations

import errno
import hashlib
import inspect
import json
import logging
import os
import platform
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

import workbench
from workbench.errors import ConfigError
from workbench.outdir import output_folder
from workbench.runspec import RunSpec
from workbench.strategy import Strategy, make_strategy, resolve_strategy

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_HASH = "manifest.sha256"
SOURCE = "strategy.py"
#: 2: the manifest lists every file's SHA-256 (``files``); 1 bundles still load.
FORMAT = 2


class BundleError(ConfigError):
    """A bundle is missing, incomplete or has been changed since promotion."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def strategy_source(cls: type[Strategy]) -> bytes:
    """The source of the module that defines ``cls``, as bytes."""
    module = sys.modules[cls.__module__]
    path = inspect.getsourcefile(module)
    if path is None:
        raise BundleError(f"cannot find the source of {cls.__module__}")
    return Path(path).read_bytes()


def workbench_fingerprint() -> str:
    """SHA-256 over the installed workbench package's Python files (sorted by path)."""
    root = Path(workbench.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


#: The packages whose versions decide a backtest's numbers (recorded, not checked).
NUMERIC_PACKAGES = ("numpy", "pandas", "numba", "exchange_calendars", "vectorbt")


def environment() -> dict[str, Any]:
    """The Python and numeric package versions a bundle was promoted with."""
    packages = {}
    for name in NUMERIC_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {"python": platform.python_version(), "packages": packages}


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: dict[str, Any]

    @property
    def strategy(self) -> str:
        return self.manifest["strategy"]["import_path"]

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.manifest["strategy"]["params"])

    def make_strategy(self) -> Strategy:
        return make_strategy(self.strategy, self.params)

    @property
    def run_spec(self) -> RunSpec:
        """The run spec promotion recorded: what every run of this bundle trades.

        A bundle without one, or missing a field, is refused (naming it): a default
        would trade something other than what was validated.
        """
        data = self.manifest.get("run_spec")
        fix = "re-promote with `" + self.promote_command() + "`"
        if data is None:
            raise BundleError(
                f"bundle {self.path} has no run spec (key run_spec in {MANIFEST}): the "
                "timeframe, costs, volume limit, lot size, margin, risk rules and execution "
                "policy it was validated with are unknown",
                hint=fix,
            )
        try:
            spec = RunSpec.from_dict(data, source=f"bundle {self.path}: its run spec")
        except ConfigError as exc:
            raise BundleError(exc.message, hint=fix) from None
        if spec.timeframe is None:
            raise BundleError(f"bundle {self.path}: its run spec names no timeframe", hint=fix)
        return spec

    def promote_command(self) -> str:
        """The ``workbench promote`` command line that would make this bundle again."""
        parts = ["workbench promote", f"--strategy {self.strategy}"]
        data = self.manifest.get("data") or {}
        if data.get("spec"):
            parts.append(f"--data {data['spec']}")
        parts += [f"--{k} {data[k]}" for k in ("start", "end") if data.get(k)]
        parts += [f"--param {k}={v}" for k, v in self.params.items()]
        tf = (self.manifest.get("run_spec") or {}).get("timeframe") or "1Day"
        parts.append(f"--timeframe {tf}")
        return " ".join(parts)


def next_version(root: Path, name: str) -> int:
    folder = root / name
    versions = (
        [int(p.name) for p in folder.iterdir() if p.name.isdigit()] if folder.is_dir() else []
    )
    return max(versions, default=0) + 1


def write_bundle(
    root: str | Path,
    strategy: Strategy,
    *,
    data: dict[str, Any],
    gates: list[dict[str, Any]],
    metrics: dict[str, Any],
    report: str,
    run_spec: RunSpec,
    forced_reason: str | None = None,
    files: dict[str, bytes] | None = None,
) -> Bundle:
    """Write a new version folder for ``strategy``; returns the bundle.

    ``run_spec`` is the run that was validated (symbols, timeframe, costs, venue, risk,
    execution): the manifest holds it whole and nowhere else. ``files`` are more files
    to keep in it (the HTML reports), by name.
    """
    if not isinstance(run_spec, RunSpec):
        raise BundleError(f"run_spec must be a RunSpec, got {type(run_spec).__name__}")
    cls = type(strategy)
    source = strategy_source(cls)
    name = strategy.label()
    contents = {SOURCE: source, "report.md": report.encode()}
    for extra, data_ in (files or {}).items():
        if Path(extra).name != extra or extra in (*contents, MANIFEST, MANIFEST_HASH):
            raise BundleError(f"a bundle cannot hold an extra file named {extra!r}")
        contents[extra] = data_
    manifest = {
        "format": FORMAT,
        "name": name,
        "version": None,
        "created_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "strategy": {
            "import_path": cls.import_path(),
            "params": dict(strategy.p),
            "source_sha256": sha256_bytes(source),
        },
        "workbench": {"version": workbench.__version__, "sha256": workbench_fingerprint()},
        "environment": environment(),
        "data": data,
        "gates": gates,
        "passed": all(g["passed"] for g in gates),
        "forced": forced_reason is not None,
        "forced_reason": forced_reason,
        "metrics": metrics,
        "run_spec": run_spec.to_dict(),
        "files": {n: sha256_bytes(b) for n, b in sorted(contents.items())},
    }
    parent = output_folder(Path(root) / name)
    while True:  # another promotion may take the version first: then the next one
        manifest["version"] = version = next_version(Path(root), name)
        text = (json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n").encode()
        staging = Path(tempfile.mkdtemp(prefix=f".{version}.partial-", dir=parent))
        folder = parent / str(version)
        try:
            for fname, body in contents.items():
                _write_readonly(staging / fname, body)
            _write_readonly(staging / MANIFEST, text)
            _write_readonly(staging / MANIFEST_HASH, (sha256_bytes(text) + "\n").encode())
            os.chmod(staging, 0o755)
            if folder.exists():
                raise FileExistsError(folder)
            os.rename(staging, folder)  # all of it at once, or nothing
        except FileExistsError:
            shutil.rmtree(staging, ignore_errors=True)
            continue
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) and folder.exists():
                continue
            raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return Bundle(folder, manifest)


def _write_readonly(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def load_bundle(path: str | Path) -> Bundle:
    """Read and :func:`verify` the bundle at ``path``."""
    folder = Path(path)
    if folder.name.startswith(".") and ".partial-" in folder.name:
        raise BundleError(
            f"{folder} is an unfinished promotion (its staging folder), not a bundle",
            hint="delete it; point --bundle at promoted/<strategy>/<version>",
        )
    if not (folder / MANIFEST).is_file():
        raise BundleError(
            f"{folder} is not a bundle (no {MANIFEST})",
            hint="point --bundle at promoted/<strategy>/<version>",
        )
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        manifest = exc
    if not isinstance(manifest, dict):
        why = manifest if isinstance(manifest, Exception) else "not a JSON object"
        raise BundleError(
            f"bundle {folder}: {MANIFEST} is damaged ({why})",
            hint="promote the strategy again instead of editing a bundle",
        )
    bundle = Bundle(folder, manifest)
    problems = verify(bundle)
    if problems:
        raise BundleError(
            f"bundle {folder} does not verify: " + "; ".join(problems),
            hint="promote the strategy again instead of editing a bundle",
        )
    for note in drift(bundle):
        log.warning("bundle %s: %s", folder, note)
    return bundle


def verify(bundle: Bundle) -> list[str]:
    """Every difference between the bundle, its hashes and the installed strategy."""
    folder, manifest = bundle.path, bundle.manifest
    problems = []
    text = (folder / MANIFEST).read_bytes()
    if not (folder / MANIFEST_HASH).is_file():
        problems.append(f"{MANIFEST_HASH} is missing")
    elif sha256_bytes(text).encode() != (folder / MANIFEST_HASH).read_bytes().strip():
        problems.append(f"{MANIFEST} changed since promotion (its SHA-256 is not {MANIFEST_HASH})")
    recorded = manifest.get("files")
    if isinstance(recorded, dict):  # bundles written before it was recorded have none
        for name, digest in sorted(recorded.items()):
            if not (folder / name).is_file():
                problems.append(f"{name} is missing")
            elif name != SOURCE and sha256_bytes((folder / name).read_bytes()) != digest:
                problems.append(f"{name} changed since promotion")
        added = {p.name for p in folder.iterdir() if not p.name.startswith(".")}  # not .DS_Store
        added -= {*recorded, MANIFEST, MANIFEST_HASH}
        problems += [f"{name} was added after promotion" for name in sorted(added)]
    entry = manifest.get("strategy")
    if not (
        isinstance(entry, dict)
        and isinstance(entry.get("import_path"), str)
        and isinstance(entry.get("params"), dict)
    ):  # what Bundle.strategy and Bundle.params read
        return [*problems, f"{MANIFEST} names no strategy (an import_path and its params)"]
    expected = entry.get("source_sha256")
    copy = folder / SOURCE
    if not copy.is_file():
        if f"{SOURCE} is missing" not in problems:
            problems.append(f"{SOURCE} is missing")
    elif sha256_bytes(copy.read_bytes()) != expected:
        problems.append(f"{SOURCE} in the bundle differs from the promoted source")
    try:
        cls = resolve_strategy(entry["import_path"])
        installed = sha256_bytes(strategy_source(cls))
        if installed != expected:
            problems.append(
                f"the installed source of {entry['import_path']} differs from the promoted one"
            )
    except ConfigError as exc:
        problems.append(f"cannot load the strategy: {exc}")
    return problems


def drift(bundle: Bundle) -> list[str]:
    """How the installed workbench differs from the one that promoted ``bundle`` (its
    version, then its code): the engine, fills and risk code the backtest ran with."""
    recorded = bundle.manifest.get("workbench") or {}
    if recorded.get("version") not in (None, workbench.__version__):
        return [
            f"promoted with workbench {recorded['version']}, running {workbench.__version__}: "
            "fills and risk may differ from the backtest it was promoted on"
        ]
    if recorded.get("sha256") not in (None, workbench_fingerprint()):
        return [
            f"the installed workbench {workbench.__version__} is not the code it was promoted "
            "with (its source hash differs): fills and risk may differ from the backtest it "
            "was promoted on; re-promote to check it with this code"
        ]
    return []
