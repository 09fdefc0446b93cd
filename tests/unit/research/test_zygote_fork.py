"""A zygote forked from its owner: taken only when safe, and its kernels carry nothing of
the owner's (logging handlers, open files and sockets) while seeing their own folder and
environment; spawned as before otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from workbench.research import zygote as zygote_module
from workbench.research.zygote import Zygote
from workbench.research.zygote_fork import fork_refusal

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="a zygote is forked on Linux")

#: The owner: logging to a file and to its stderr, a file and a socket open, then one job
#: after another on its warm kernel (1 job), each kernel forked from its own zygote; the
#: environment changed between the two (the second kernel must see it, not the fork's).
OWNER = r"""
import json, logging, os, socket, sys
from pathlib import Path
from workbench.research import warm_kernel
from workbench.research.notebook_runner import NotebookJob, NotebookRunner

folder = Path(sys.argv[1])
to_file = logging.FileHandler(folder / "owner.log")
to_file.set_name("owner-file")
logging.getLogger().addHandler(to_file)
to_stderr = logging.StreamHandler(sys.stderr)
to_stderr.set_name("owner-stderr")
logging.getLogger("workbench").addHandler(to_stderr)
logging.getLogger("workbench").setLevel(logging.DEBUG)
held = open(folder / "owner-held.txt", "w")
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
os.environ["WB_PROBE"] = "first"

def job(k):
    cwd = folder / f"cwd{k}"
    cwd.mkdir()
    out = cwd / "probe.json"
    return NotebookJob(f"probe{k}", folder / "probe.ipynb", folder / f"probe{k}.ipynb",
                       {"out": str(out)}, cwd=cwd)

with NotebookRunner(1) as runner:
    runner.prepare("import numpy")
    first = runner.run([job(0)], progress=False)
    warm_kernel.drop_kernel()  # the next job's kernel: forked again, from the same zygote
    os.environ["WB_PROBE"] = "second"
    second = runner.run([job(1)], progress=False)
zygote = warm_kernel._kernel["own_zygote"]
child = os.fork()  # a fork of the owner's, whose exit runs the owner's exit hooks
if child == 0:
    sys.exit(0)
os.waitpid(child, 0)
survived = warm_kernel._kernel["km"].is_alive() and zygote.running()
proc = Path(f"/proc/{zygote.pid}")
fds = {os.readlink(f"/proc/{zygote.pid}/fd/{n}") for n in os.listdir(f"/proc/{zygote.pid}/fd")}
print(json.dumps({
    "outcomes": [o.status for o in first + second],
    "errors": [o.error for o in first + second],
    "forked": zygote.forked,
    "survived": survived and Path(zygote.address).exists(),
    "owner": os.getpid(),
    "zygote": zygote.pid,
    "zygote_parent": int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]),
    "zygote_cmdline": (proc / "cmdline").read_text() == Path("/proc/self/cmdline").read_text(),
    "zygote_fds": sorted(fds),
    "socket": f"socket:[{os.fstat(server.fileno()).st_ino}]",
}), flush=True)
from jupyter_client.manager import KernelManager  # one more kernel, left running
from workbench.research.notebook_runner import KERNEL, KERNEL_ARGUMENTS
km = KernelManager(kernel_name=KERNEL)
km.provisioner = warm_kernel._zygote_provisioner(km, zygote.address)
km.start_kernel(extra_arguments=KERNEL_ARGUMENTS)
kernel = km.provisioner.pid
kernel_parent = int(Path(f"/proc/{kernel}/stat").read_text().rsplit(")", 1)[1].split()[1])
warm_kernel.shutdown()  # the warm kernel dropped, then the zygote closed: it kills the other
try:
    os.kill(kernel, 0)
    kernel_gone = False
except ProcessLookupError:
    kernel_gone = True
print(json.dumps({"zygote_running": zygote.running(), "kernel_gone": kernel_gone,
                  "kernel_forked": kernel_parent == zygote.pid}), flush=True)
"""

PROBE = (
    "import json, logging, os, numpy\n"
    "from workbench.research.zygote_fork import fork_refusal\n"
    "logging.getLogger('workbench.probe').error('said in the kernel')\n"
    "handlers = [\n"
    "    [h.get_name(), getattr(h, 'baseFilename', None)]\n"
    "    for lg in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]\n"
    "    for h in getattr(lg, 'handlers', [])\n"
    "]\n"
    "fds = []\n"
    "for n in os.listdir('/proc/self/fd'):\n"
    "    try:\n"
    "        fds.append(os.readlink(f'/proc/self/fd/{n}'))\n"
    "    except OSError:  # the listing's own\n"
    "        pass\n"
    "probe = {'pid': os.getpid(), 'parent': os.getppid(), 'cwd': os.getcwd(),\n"
    "         'env': os.environ.get('WB_PROBE'), 'handlers': handlers, 'fds': fds,\n"
    "         'sum': float(numpy.arange(10).sum()), 'refusal': fork_refusal()}\n"
    "open(out, 'w').write(json.dumps(probe))"
)


def _probe_notebook(path: Path) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    params = new_code_cell("out = 'probe.json'")
    params.metadata["tags"] = ["parameters"]
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = new_notebook(cells=[params, new_code_cell(PROBE)], metadata={"kernelspec": kernelspec})
    nbformat.write(nb, path)


@pytest.mark.slow
def test_kernels_forked_from_a_zygote_forked_from_their_owner_carry_nothing_of_it(
    tmp_path: Path,
) -> None:
    _probe_notebook(tmp_path / "probe.ipynb")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, "-c", OWNER, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    owner, after = json.loads(lines[-2]), json.loads(lines[-1])
    assert owner["outcomes"] == ["ok", "ok"], owner["errors"]
    assert owner["forked"] and owner["zygote_cmdline"]  # a fork of the owner, not spawned
    assert owner["zygote_parent"] == owner["owner"]
    assert owner["survived"]  # a fork of the owner exiting stops neither kernel nor zygote
    probes = [json.loads((tmp_path / f"cwd{k}" / "probe.json").read_text()) for k in (0, 1)]
    held, log_file = str(tmp_path / "owner-held.txt"), str(tmp_path / "owner.log")
    for k, probe in enumerate(probes):
        assert probe["parent"] == owner["zygote"]  # the 1-job kernel: forked by the zygote
        assert probe["cwd"] == str(tmp_path / f"cwd{k}")
        assert probe["env"] == ["first", "second"][k]  # the environment at its request
        assert probe["sum"] == 45.0  # the notebook ran
        assert not [h for h in probe["handlers"] if str(h[0]).startswith("owner-")]
        assert log_file not in {h[1] for h in probe["handlers"]}
        assert held not in probe["fds"] and log_file not in probe["fds"]
        assert owner["socket"] not in probe["fds"]
        assert "IPython" in probe["refusal"]  # a walk-forward run from a notebook: spawned
    assert probes[0]["pid"] != probes[1]["pid"]
    assert not {held, log_file, owner["socket"]} & set(owner["zygote_fds"])
    assert "said in the kernel" not in Path(log_file).read_text()
    assert "said in the kernel" not in done.stderr
    assert "warm kernel ready" in done.stderr  # the owner's own handler still writes
    assert not after["zygote_running"] and after["kernel_forked"] and after["kernel_gone"]


def _command(pid: int) -> str:
    """A process's command line, once its exec has set it (empty for a moment before)."""
    deadline = time.monotonic() + 30
    while not (command := Path(f"/proc/{pid}/cmdline").read_text()) and time.monotonic() < deadline:
        time.sleep(0.005)
    return command


def test_with_a_second_thread_the_zygote_is_spawned(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread may hold a lock at the fork, held forever in the child: no fork then."""
    monkeypatch.delitem(sys.modules, "matplotlib", raising=False)  # another test's import
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert "threads run in this process" in (fork_refusal() or "")
        zygote = Zygote()
        try:
            assert not zygote.forked
            assert "workbench.research.zygote" in _command(zygote.pid)
        finally:
            zygote.close()
    finally:
        stop.set()
        thread.join()


def test_when_the_fork_fails_the_zygote_is_spawned(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(zygote_module, "fork_refusal", lambda: None)  # safe, as far as it knows
    monkeypatch.setattr(os, "fork", no_fork)
    zygote = Zygote()
    try:
        assert not zygote.forked and zygote.running()
        assert "workbench.research.zygote" in _command(zygote.pid)
    finally:
        zygote.close()
    assert not zygote.running()


def test_once_matplotlib_is_imported_the_zygote_is_spawned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its backend (a GUI's connection) and settings are the owner's, not a kernel's."""
    import types

    monkeypatch.setitem(sys.modules, "matplotlib", types.ModuleType("matplotlib"))
    assert "matplotlib is imported" in (fork_refusal() or "")


#: An owner run as a spawned multiprocessing child (it holds the resource tracker's pipe of
#: its parent): its own zygote's preload and its 1-job kernel each make multiprocessing
#: locks (tqdm's, and a spawn context's, which needs a tracker), then go on.
SPAWNED_OWNER = r"""
import json, os, sys
from pathlib import Path

LOCKS = (
    "import multiprocessing as mp, os\n"
    "from multiprocessing import resource_tracker as rt\n"
    "inherited = [rt._resource_tracker._fd, rt._resource_tracker._pid]\n"
    "start = mp.get_start_method(allow_none=True)\n"
    "parent = mp.parent_process() is not None\n"
    "from tqdm import tqdm\n"
    "for _ in tqdm(range(3)):\n"
    "    pass\n"
    "lock = mp.get_context('spawn').Lock()\n"
)
RECORD = (
    "import json, pathlib\n"
    "pathlib.Path(out).write_text(json.dumps({'inherited': inherited, 'start': start,\n"
    "    'parent': parent, 'tracker': rt._resource_tracker._pid, 'pid': os.getpid()}))\n"
)


def run(folder):
    from multiprocessing import resource_tracker
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook
    from workbench.research import warm_kernel
    from workbench.research.notebook_runner import NotebookJob, NotebookRunner
    from workbench.research.zygote import Zygote

    folder = Path(folder)
    owner = {"tracker_fd": resource_tracker._resource_tracker._fd, "pid": os.getpid()}
    zygote = Zygote(LOCKS + RECORD.replace("out", repr(str(folder / "zygote.json"))))
    owner["zygote_forked"] = zygote.forked
    zygote.close()  # after its preload
    params = new_code_cell("out = 'kernel.json'")
    params.metadata["tags"] = ["parameters"]
    spec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [params, new_code_cell(LOCKS), new_code_cell(RECORD)]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": spec}), folder / "t.ipynb")
    job = NotebookJob("locks", folder / "t.ipynb", folder / "locks.ipynb",
                      {"out": str(folder / "kernel.json")})
    with NotebookRunner(1) as runner:
        runner.prepare(None)  # as a walk-forward does: before the progress bar's thread
        (outcome,) = runner.run([job], progress=False)
        owner["own_zygote_forked"] = warm_kernel._kernel["own_zygote"].forked
    return {**owner, "status": outcome.status, "error": outcome.error}


if __name__ == "__main__":
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    sys.path.insert(0, sys.argv[1])
    from spawned_owner import run

    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        print(json.dumps(pool.submit(run, sys.argv[1]).result(timeout=240)), flush=True)
"""


@pytest.mark.slow
@pytest.mark.timeout(300, method="thread")
def test_a_spawned_owner_s_resource_tracker_is_not_its_zygote_s_nor_its_kernels(
    tmp_path: Path,
) -> None:
    """Its pipe is closed in the zygote and its number reused (zmq's epoll descriptor in a
    kernel): a kernel's first lock closed that number and zmq aborted the kernel."""
    (tmp_path / "spawned_owner.py").write_text(SPAWNED_OWNER)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    script = [sys.executable, str(tmp_path / "spawned_owner.py"), str(tmp_path)]
    done = subprocess.run(script, capture_output=True, text=True, env=env, timeout=280)
    assert done.returncode == 0, done.stderr
    owner = json.loads(done.stdout.splitlines()[-1])
    assert owner["tracker_fd"] is not None  # a spawned child: its parent's tracker's pipe
    assert owner["zygote_forked"] and owner["own_zygote_forked"]
    assert owner["status"] == "ok", owner["error"]
    for name in ("zygote", "kernel"):  # each began as a launched interpreter does
        record = json.loads((tmp_path / f"{name}.json").read_text())
        assert record["inherited"] == [None, None] and record["start"] is None
        assert not record["parent"] and record["tracker"] not in (None, owner["pid"])
