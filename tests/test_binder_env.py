"""What Binder installs works: binder/requirements.txt in a fresh virtual environment, as
repo2docker installs it (``pip install -r binder/requirements.txt`` from the repository), then
``book`` imported and a chapter run live by that environment's own Jupyter server.

The install takes minutes (torch alone is 190 MB), so the environment is kept in
``_build/binder_env/<key>/``, keyed by the requirement files and the Python version: it is
built again from nothing whenever one of them changes (and after ``make clean``). Without the
network the test skips and says why; where PyTorch's CPU wheel index cannot be reached but
pip finds the same torch wheel locally (``PIP_FIND_LINKS``), that wheel is used instead.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tools import live
from tools.chapters import ROOT

pytestmark = [pytest.mark.binder_env, pytest.mark.live]

REQUIREMENTS = ROOT / "binder" / "requirements.txt"
ENVS = ROOT / "_build" / "binder_env"
#: A fast chapter (about 10 s) with a slider.
CHAPTER = "layers_masks_and_reuse"
INSTALL_TIMEOUT = 1800
#: pip's words for "the network is not there".
OFFLINE = ("NewConnectionError", "Name or service not known", "Temporary failure in name "
           "resolution", "Network is unreachable", "No matching distribution found")


def _key() -> str:
    h = hashlib.sha256(sys.version.encode())
    for path in (REQUIREMENTS, ROOT / "requirements.txt", ROOT / "pyproject.toml"):
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _cpu_index() -> str:
    for line in REQUIREMENTS.read_text().splitlines():
        if line.startswith("--extra-index-url"):
            return line.split()[1]
    raise AssertionError("binder/requirements.txt names no CPU wheel index")


def _torch_pin() -> str:
    (pin,) = [ln for ln in REQUIREMENTS.read_text().splitlines() if ln.startswith("torch==")]
    return pin.split("==")[1]


def _reachable(url: str, timeout: float = 5.0) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _local_torch_wheel() -> str | None:
    """A wheel of the pinned torch in the folders pip is told to look in (PIP_FIND_LINKS)."""
    version = _torch_pin()
    for folder in os.environ.get("PIP_FIND_LINKS", "").split():
        found = glob.glob(os.path.join(folder, f"torch-{version}-cp3*.whl"))
        if found:
            return found[0]
    return None


@pytest.fixture(scope="module")
def binder_python() -> Path:
    """The Python of a virtual environment made from binder/requirements.txt alone."""
    folder = ENVS / _key()
    python = folder / "venv" / "bin" / "python"
    if (folder / "installed").exists():
        return python
    env = dict(os.environ)
    if not _reachable(_cpu_index()):
        wheel = _local_torch_wheel()
        if wheel is None:
            pytest.skip(f"the CPU wheel index of binder/requirements.txt ({_cpu_index()}) is "
                        f"unreachable and no torch {_torch_pin()} wheel is in PIP_FIND_LINKS: "
                        "cannot install what Binder installs")
        # pip would retry the unreachable index for every package; ask it once each
        env["PIP_RETRIES"] = "0"
        print(f"CPU wheel index unreachable: torch from {wheel}")
    shutil.rmtree(ENVS, ignore_errors=True)  # environments of older requirement files
    folder.mkdir(parents=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(folder / "venv")], check=True)
    start = time.monotonic()
    done = subprocess.run([str(python), "-m", "pip", "install", "-r", str(REQUIREMENTS)],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=INSTALL_TIMEOUT)
    log = done.stdout + done.stderr
    (folder / "pip.log").write_text(log)
    if done.returncode != 0:
        tail = "\n".join(log.splitlines()[-15:])
        if any(word in log for word in OFFLINE):
            shutil.rmtree(folder, ignore_errors=True)
            pytest.skip(f"pip could not reach a package index:\n{tail}")
        pytest.fail(f"pip install -r binder/requirements.txt failed:\n{tail}")
    print(f"binder/requirements.txt installed in {time.monotonic() - start:.0f} s")
    (folder / "installed").write_text(f"{time.ctime()}\n")
    return python


def test_binder_environment_imports_book_with_cpu_torch(binder_python):
    done = subprocess.run([str(binder_python), "-c",
                           "import book, torch, jupyterlab, jupytext; "
                           "print(torch.__version__); print(book.__file__)"],
                          cwd=ROOT / "binder", capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    version, book_file = done.stdout.split()
    assert version == _torch_pin(), f"torch {version}, binder pins {_torch_pin()}"
    assert Path(book_file).resolve().parent == ROOT / "book"


def test_binder_environment_runs_a_chapter_live(binder_python):
    """That environment's own JupyterLab, set up by binder/postBuild and started through
    binder/start, opens a chapter as a notebook and runs it with live sliders."""
    path = f"chapters/{CHAPTER}.md"
    with live.Server(python=binder_python) as server:
        model = server.notebook(path)
        assert model["type"] == "notebook"
        with server.kernel(path) as kernel:
            for i, code in enumerate(live.code_cells(model)):
                reply = kernel.execute(code, timeout=300)
                assert reply.error is None, f"cell {i}: {reply.error.get('ename')}: " \
                                            f"{reply.error.get('evalue')}"
            names = {w.model_name for w in kernel.widgets.values()}
            assert "OutputModel" in names and "StackModel" not in names, names
