"""Kernels forked by a zygote: real kernels, on their own, gone with the zygote; or launched as
usual when the zygote gives none."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from workbench.research.notebook_runner import KERNEL, KERNEL_ARGUMENTS
from workbench.research.warm_kernel import _zygote_provisioner
from workbench.research.zygote import Zygote

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="a zygote forks")

PROBE = (
    "import json, os, sys, numpy\n"
    "print(json.dumps([os.getpid(), os.getppid(), os.getpgid(0), os.getcwd(),"
    " os.environ.get('WB_PROBE'), numpy.random.random(), '' in sys.path]))"
)


def _start(address: str, folder: Path, probe: str) -> KernelManager:
    km = KernelManager(kernel_name=KERNEL)
    km.provisioner = _zygote_provisioner(km, address)
    km.start_kernel(
        extra_arguments=KERNEL_ARGUMENTS, cwd=str(folder), env={**os.environ, "WB_PROBE": probe}
    )
    return km


def _probe(km: KernelManager) -> list[Any]:
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        printed: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                printed.append(msg["content"]["text"])

        reply = kc.execute_interactive(PROBE, timeout=60, output_hook=hook)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
    return json.loads("".join(printed))


def _gone(pid: int, within: float = 10.0, zombie: bool = False) -> bool:
    """The process ended and was waited for (``zombie``: or ended, for an orphan, whose
    reaping is its new parent's business)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (ProcessLookupError, FileNotFoundError):
            return True
        if zombie and stat.rsplit(")", 1)[1].split()[0] == "Z":
            return True
        time.sleep(0.02)
    return False


def test_forked_kernels_are_kernels_of_their_own_and_die_with_the_zygote(tmp_path: Path) -> None:
    zygote = Zygote("import numpy")
    try:
        kms = [_start(zygote.address, tmp_path, str(i)) for i in range(2)]
        probes = [_probe(km) for km in kms]
        for i, (pid, parent, group, cwd, probe, _, path) in enumerate(probes):
            assert parent == zygote._process.pid  # forked, not launched
            assert group == pid  # its own session: signals reach what it starts
            assert cwd == str(tmp_path) and probe == str(i)  # the manager's folder, environment
            assert path  # IPython's '' on sys.path, as in a launched kernel
        assert probes[0][0] != probes[1][0]
        assert probes[0][5] != probes[1][5]  # numpy's random state reseeded in each
        kms[0].shutdown_kernel(now=True)  # as warm_kernel drops one: gone, no zombie
        assert _gone(probes[0][0]) and kms[1].is_alive()
    finally:
        zygote.close()
    assert _gone(probes[1][0])  # killed with the zygote
    assert zygote._process.poll() is not None and not Path(zygote.address).parent.exists()


def test_ended_while_another_process_holds_its_pipe_it_ends_with_its_kernels(
    tmp_path: Path,
) -> None:
    """A pool's workers, forked from the owner, hold the zygote's pipe open too: its end of
    file comes only when the last of them exits. Told to end, it ends at once, kernels and
    all, while they still live (then the workers release what is theirs, not waiting)."""
    import subprocess

    zygote = Zygote()
    holder = None
    try:
        km = _start(zygote.address, tmp_path, "x")
        kernel = _probe(km)[0]
        pipe = zygote._process.stdin.fileno()
        holder = subprocess.Popen(  # holds the pipe's writing end, as a worker does
            [sys.executable, "-c", "import sys; sys.stdin.read()"],
            stdin=subprocess.PIPE,
            pass_fds=(pipe,),
        )
        zygote.end()
        assert _gone(kernel) and _gone(zygote._process.pid, zombie=True)
        assert holder.poll() is None  # still holding it: the zygote did not wait for that
        km.cleanup_resources()
    finally:
        if holder is not None:
            holder.communicate(timeout=60)
        zygote.close()


def test_a_forked_kernel_has_no_debugger_but_a_notebook_may_import_debugpy(
    tmp_path: Path,
) -> None:
    """Its start does not import debugpy (kernel_info advertises no debugger, as without
    it installed); code run on it still can. A spawned zygote: imports of its own only."""
    zygote = Zygote(fork=False)
    km = _start(zygote.address, tmp_path, "x")
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        info = kc.kernel_info(reply=True, timeout=60)["content"]
        assert "debugger" not in info.get("supported_features", [])
        printed: list[str] = []
        code = (
            "import json, sys\n"
            "before = 'debugpy' in sys.modules\n"
            "import debugpy\n"
            "print(json.dumps([before, debugpy.__name__]))"
        )
        reply = kc.execute_interactive(
            code, timeout=60, output_hook=lambda m: printed.append(m["content"].get("text", ""))
        )
        assert reply["content"]["status"] == "ok", reply["content"]
        assert json.loads("".join(printed)) == [False, "debugpy"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        zygote.close()


#: In a fresh interpreter: the zygote's imports, then a kernel's start as a forked kernel
#: makes it (``IPKernelApp.initialize`` with the pool's arguments), and the modules that start
#: imported, written to ``sys.argv[1]`` (the kernel's start captures stdout).
KERNEL_START = """
import json, os, sys, tempfile
from workbench.research.notebook_job import KERNEL_ARGUMENTS
from workbench.research.zygote import _import_kernel
_import_kernel()
before = set(sys.modules)
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
app.initialize(["-f", os.path.join(tempfile.mkdtemp(), "kernel.json"), *KERNEL_ARGUMENTS])
with open(sys.argv[1], "w") as out:
    json.dump(sorted(set(sys.modules) - before), out)
os._exit(0)
"""


def test_a_forked_kernel_imports_no_library_as_it_starts(tmp_path: Path) -> None:
    """What a kernel's start imports (psutil, IPython's debugger, completer and inspector,
    tornado's loop: half a forked kernel's start) the zygote has imported: only standard
    library modules are left (a few, next to nothing)."""
    import subprocess

    out = tmp_path / "imported.json"
    subprocess.run(
        [sys.executable, "-c", KERNEL_START, str(out)],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=True,
    )
    imported = json.loads(out.read_text())
    assert imported, "the probe saw no import at all: it no longer measures a kernel's start"
    libraries = [m for m in imported if m.split(".")[0] not in sys.stdlib_module_names]
    assert libraries == [], f"imported as each forked kernel starts: {libraries}"


def test_without_a_zygote_the_kernel_is_launched_as_usual(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    km = _start(str(tmp_path / "no.sock"), tmp_path, "x")
    try:
        pid, parent, *_ = _probe(km)
        assert parent == os.getpid()  # this process's child, as jupyter_client launches it
    finally:
        km.shutdown_kernel(now=True)
    assert _gone(pid)
    assert "no kernel from the zygote" in caplog.text


OWNER = """
import json, os, sys, time
from jupyter_client.manager import KernelManager
from workbench.research.notebook_runner import KERNEL, KERNEL_ARGUMENTS
from workbench.research.warm_kernel import _zygote_provisioner
from workbench.research.zygote import Zygote

zygote = Zygote(fork=sys.argv[1] == "fork")
assert zygote.forked == (sys.argv[1] == "fork"), "forked when asked and safe, else spawned"
km = KernelManager(kernel_name=KERNEL)
km.provisioner = _zygote_provisioner(km, zygote.address)
km.start_kernel(extra_arguments=KERNEL_ARGUMENTS)
print(json.dumps([zygote._process.pid, km.provisioner.pid, zygote.address]), flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("mode", ["fork", "spawn"])
def test_when_its_owner_dies_the_zygote_ends_and_takes_its_kernels(
    tmp_path: Path, mode: str
) -> None:
    import signal
    import subprocess

    owner = subprocess.Popen([sys.executable, "-c", OWNER, mode], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        zygote, kernel, address = json.loads(owner.stdout.readline())
        assert not _gone(kernel, within=0.5)
    finally:
        owner.send_signal(signal.SIGKILL)  # no close(), no exit handler
        owner.wait(timeout=60)
    assert _gone(kernel) and _gone(zygote, zombie=True)
    assert not Path(address).parent.exists()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="the pool forks its workers on Linux")
def test_a_pool_forks_its_kernels_from_one_zygote_and_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from workbench.research.notebook_runner import NotebookJob, NotebookRunner

    monkeypatch.setenv("MPLBACKEND", "Agg")
    params = new_code_cell("out = 'pids'\nwait = False")
    params.metadata["tags"] = ["parameters"]
    body = new_code_cell(
        "import os, pathlib, time\n"
        "here = pathlib.Path(out).parent\n"
        "(here / f'{os.getpid()}.started').touch()\n"
        "deadline = time.monotonic() + 60\n"
        "while wait and len(list(here.glob('*.started'))) < 2 and time.monotonic() < deadline:\n"
        "    time.sleep(0.005)  # the first two jobs: each waits until the other has started\n"
        "pathlib.Path(out).write_text(f'{os.getpid()} {os.getppid()}')"
    )
    kernelspec = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    src = tmp_path / "pids.ipynb"
    nbformat.write(new_notebook(cells=[params, body], metadata={"kernelspec": kernelspec}), src)
    jobs = [
        NotebookJob(
            f"j{i}",
            src,
            tmp_path / f"j{i}.ipynb",
            {"out": str(tmp_path / f"{i}.pids"), "wait": i < 2},
        )
        for i in range(4)
    ]
    with NotebookRunner(2) as runner:
        assert [o.status for o in runner.run(jobs, progress=False)] == ["ok"] * 4
        pids = {tuple(map(int, (tmp_path / f"{i}.pids").read_text().split())) for i in range(4)}
        kernels, parents = {pid for pid, _ in pids}, {parent for _, parent in pids}
        assert parents == {runner._zygote.pid}  # the workers' warm kernels, forked by the zygote
        assert Path(f"/proc/{runner._zygote.pid}/comm").read_text().strip() == "wb-zygote"
    assert len(kernels) == 2  # one warm kernel per worker: the first two jobs ran at once
    assert all(_gone(pid) for pid in kernels | parents)  # closed: kernels and zygote
