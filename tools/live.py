"""Run chapters live: a local Jupyter server set up as Binder sets it up, and a small client.

    with live.Server() as server:                       # 127.0.0.1, a random port and token
        nb = server.notebook("chapters/sgd_as_euler.md")    # jupytext: the .md as a notebook
        with server.kernel("chapters/sgd_as_euler.md") as kernel:
            for cell in live.code_cells(nb):
                run = kernel.execute(cell)              # outputs, errors, widget messages

The server is the pinned JupyterLab, started through ``binder/start`` after ``binder/postBuild``
has put ``binder/overrides.json`` into a temporary settings folder (Binder's image has it in
its Python prefix), with the user's own Jupyter configuration, data and runtime folders
replaced by empty temporary ones. Its kernels are started through the REST API for a
notebook session, as JupyterLab and Thebe start them, so ``book.sliders`` finds itself in a
live kernel. The client talks to a kernel over the server's websocket (the JSON protocol,
with binary frames for widget buffers) and keeps the state of every widget the kernel opens.
The server serves only 127.0.0.1 and is stopped, kernels and all, when the ``with`` ends.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
#: What a server may take to answer its first request (JupyterLab imports a lot).
START_TIMEOUT = 120.0


def _die_with_parent() -> list[str]:
    """A prefix for the server's command: on Linux, util-linux's ``setpriv`` asks for a
    SIGTERM when this process dies, so a test run that is killed does not leave the server
    (and its kernels, which it stops on SIGTERM) behind."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM"] if setpriv and sys.platform.startswith("linux") \
        else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A Jupyter server on 127.0.0.1 as Binder runs it (see the module docstring).

    ``python``: the interpreter whose JupyterLab to run (another virtual environment's, for
    the Binder environment test); ``allow_origin``: the pages that may call it from a
    browser (``"*"`` for a Thebe page opened from disk in a test); ``env``: more variables.
    """

    def __init__(self, python: str | Path = sys.executable, root: Path = ROOT,
                 allow_origin: str = "", env: dict[str, str] | None = None):
        self.python = str(python)
        self.root = Path(root)
        self.allow_origin = allow_origin
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.token = uuid.uuid4().hex
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen | None = None
        self.tmp: Path | None = None

    # -- lifecycle ------------------------------------------------------------------
    def __enter__(self) -> Server:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="book-live-"))
        # binder/postBuild, run from the repository as Binder runs it, with the temporary
        # folder as the Python prefix it writes into
        subprocess.run(["bash", str(ROOT / "binder" / "postBuild")], cwd=ROOT, check=True,
                       env={**os.environ, "NB_PYTHON_PREFIX": str(self.tmp)})
        settings = self.tmp / "share" / "jupyter" / "lab" / "settings"
        env = {k: v for k, v in os.environ.items()
               if k not in ("BOOK_SLIDERS", "JPY_SESSION_NAME") and not k.startswith("JUPYTER")}
        for name in ("config", "data", "runtime"):
            (self.tmp / name).mkdir()
            env[f"JUPYTER_{name.upper()}_DIR"] = str(self.tmp / name)
        env.update(self.extra_env)
        cmd = [*_die_with_parent(), "bash", str(ROOT / "binder" / "start"), self.python,
               "-m", "jupyter", "lab",
               "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root}", f"--LabApp.app_settings_dir={settings}",
               # nothing from outside: no news, no update check, no extension catalogue
               "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
               "--LabApp.check_for_updates_class="
               "jupyterlab.handlers.announcements.NeverCheckForUpdate"]
        if self.allow_origin:
            cmd.append(f"--ServerApp.allow_origin={self.allow_origin}")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log = open(self.tmp / "server.log", "wb")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Jupyter server exited ({self.proc.returncode}):\n"
                                   + self.log_tail())
            try:
                if self.get("api/status").ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"no answer from the Jupyter server in {START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        """Shut the server down (it shuts its kernels down), killing it if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.post("api/shutdown", timeout=10)
            except requests.RequestException:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def log_tail(self, lines: int = 30) -> str:
        if self.tmp is None or not (self.tmp / "server.log").exists():
            return ""
        text = (self.tmp / "server.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- REST -----------------------------------------------------------------------
    def request(self, method: str, path: str, timeout: float = 60, **kw) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, self.url + path, headers=headers, timeout=timeout, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.request("POST", path, **kw)

    def notebook(self, path: str) -> dict:
        """The contents API's answer for ``path`` asked as a notebook."""
        r = self.get(f"api/contents/{path}", params={"type": "notebook", "content": 1})
        r.raise_for_status()
        return r.json()

    def kernel(self, path: str, kernel_name: str = "python3",
               timeout: float = 120) -> Kernel:
        """A kernel for a notebook session on ``path``, connected over the websocket."""
        r = self.post("api/sessions", json={"path": path, "name": Path(path).name,
                                            "type": "notebook", "kernel": {"name": kernel_name}})
        r.raise_for_status()
        session = r.json()
        return Kernel(self, session["id"], session["kernel"]["id"], timeout)


def binder_url(path: str) -> str:
    """The Binder address that opens ``path`` (relative to the repository) in JupyterLab,
    from the repository and launch-button settings of ``_config.yml``; binder/'s settings
    make JupyterLab open a chapter's .md as a notebook."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = urlsplit(config["repository"]["url"]).path.strip("/")
    buttons = config["launch_buttons"]
    ui = {"jupyterlab": "lab/tree", "classic": "tree"}[buttons["notebook_interface"]]
    book = config["repository"].get("path_to_book", "").strip("/")
    return (f"{buttons['binderhub_url'].rstrip('/')}/v2/gh/{repo}/"
            f"{config['repository']['branch']}?urlpath={ui}/{book + '/' if book else ''}{path}")


def code_cells(notebook: dict) -> list[str]:
    """The sources of the code cells of a contents-API notebook model."""
    cells = notebook["content"]["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if c["cell_type"] == "code"]


@dataclass
class Widget:
    """A widget model the kernel opened: its class and its state as last updated."""

    comm_id: str
    model_name: str
    state: dict
    buffers: dict = field(default_factory=dict)  # path in the state -> bytes


@dataclass
class Reply:
    """What the kernel sent in answer to one request (an execution or a widget update)."""

    msg_id: str
    seconds: float = 0.0
    outputs: list = field(default_factory=list)   # iopub output messages' content
    error: dict | None = None                      # ename, evalue, traceback
    opened: list = field(default_factory=list)     # Widgets opened meanwhile
    updated: list = field(default_factory=list)    # (comm_id, state) updates meanwhile

    def images(self) -> list[bytes]:
        """PNG bytes of the Image widgets opened in answer to this request."""
        return [bytes(w.buffers.get("value", b"")) for w in self.opened
                if w.model_name == "ImageModel"]


class Kernel:
    """A kernel of the server, spoken to over its websocket (see the module docstring)."""

    def __init__(self, server: Server, session_id: str, kernel_id: str, timeout: float):
        import websocket  # websocket-client

        self.server, self.session_id, self.kernel_id = server, session_id, kernel_id
        self.client_session = uuid.uuid4().hex
        self.widgets: dict[str, Widget] = {}
        ws_url = (server.url.replace("http", "ws", 1)
                  + f"api/kernels/{kernel_id}/channels?session_id={self.client_session}")
        self.ws = websocket.create_connection(
            ws_url, header=[f"Authorization: token {server.token}"], timeout=timeout)

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the websocket and end the session (the server shuts its kernel down)."""
        try:
            self.ws.close()
        finally:
            self.server.request("DELETE", f"api/sessions/{self.session_id}")

    # -- messages -------------------------------------------------------------------
    def _send(self, channel: str, msg_type: str, content: dict) -> str:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": msg_type, "session": self.client_session,
                  "username": "test", "version": "5.3",
                  "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.ws.send(json.dumps({"header": header, "parent_header": {}, "metadata": {},
                                 "content": content, "channel": channel, "buffers": []}))
        return msg_id

    def _recv(self, deadline: float) -> dict:
        from jupyter_server.services.kernels.connection.base import deserialize_binary_message

        self.ws.settimeout(max(0.1, deadline - time.monotonic()))
        frame = self.ws.recv()
        return deserialize_binary_message(frame) if isinstance(frame, bytes) else json.loads(frame)

    def _track(self, msg: dict, reply: Reply) -> None:
        """Keep the widgets' state, and what belongs to ``reply``."""
        kind, content = msg["header"]["msg_type"], msg["content"]
        if kind == "comm_open" and content.get("target_name") == "jupyter.widget":
            data = content["data"]
            state = data.get("state", {})
            bufs = {"/".join(map(str, p)): b for p, b in
                    zip(data.get("buffer_paths", []), msg.get("buffers", []))}
            w = Widget(content["comm_id"], state.get("_model_name", ""), state, bufs)
            self.widgets[w.comm_id] = w
            reply.opened.append(w)
        elif kind == "comm_msg" and content["comm_id"] in self.widgets:
            data = content["data"]
            if data.get("method") == "update":
                w = self.widgets[content["comm_id"]]
                w.state.update(data.get("state", {}))
                w.buffers.update({"/".join(map(str, p)): b for p, b in
                                  zip(data.get("buffer_paths", []), msg.get("buffers", []))})
                reply.updated.append((w.comm_id, data.get("state", {})))
        parent = msg.get("parent_header", {}).get("msg_id")
        if parent != reply.msg_id:
            return
        if kind in ("stream", "display_data", "execute_result", "update_display_data"):
            reply.outputs.append(content)
        elif kind == "error":
            reply.error = content

    def _await(self, msg_id: str, reply_type: str | None, timeout: float) -> Reply:
        """Read messages until the shell's ``reply_type`` to ``msg_id`` (if any) has come
        and the kernel has gone idle after it."""
        reply, start = Reply(msg_id), time.monotonic()
        deadline = start + timeout
        got_reply, idle = reply_type is None, False
        while not (got_reply and idle):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the kernel did not answer {reply_type or 'the update'} "
                                   f"within {timeout:.0f} s")
            msg = self._recv(deadline)
            self._track(msg, reply)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == reply_type:
                got_reply = True
                if msg["content"].get("status") == "error" and reply.error is None:
                    reply.error = msg["content"]
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
        reply.seconds = time.monotonic() - start
        return reply

    def execute(self, code: str, timeout: float = 300) -> Reply:
        """Run ``code`` as a notebook cell; the reply has its outputs, error and widgets."""
        msg_id = self._send("shell", "execute_request",
                            {"code": code, "silent": False, "store_history": True,
                             "user_expressions": {}, "allow_stdin": False,
                             "stop_on_error": True})
        return self._await(msg_id, "execute_reply", timeout)

    def set_widget(self, comm_id: str, timeout: float = 60, **state) -> Reply:
        """What a browser sends when a control moves: an update of the widget's state.

        A comm message gets no shell reply; the kernel's idle status after it ends the wait.
        """
        msg_id = self._send("shell", "comm_msg", {"comm_id": comm_id, "data": {
            "method": "update", "state": state, "buffer_paths": []}})
        return self._await(msg_id, None, timeout)

    def find(self, model_name: str) -> list[Widget]:
        return [w for w in self.widgets.values() if w.model_name == model_name]

    def children(self, box: Widget) -> list[Widget]:
        """The widgets of a box's ``children`` ("IPY_MODEL_<id>" references)."""
        return [self.widgets[ref.removeprefix("IPY_MODEL_")]
                for ref in box.state.get("children", [])]
