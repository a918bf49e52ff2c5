"""Debian's nginx in front of running replicas, from the deployment's one template, for the tests and benchmarks.

``render(values)`` fills ``deploy/nginx/default.conf.template`` as the official image's envsubst
step does (only ``${NAME}`` of the variables given; nginx's own ``$name`` stays). ``running(...)``
starts ``nginx`` with it on a free loopback port, in a temporary folder that holds its main
configuration, logs, pid and buffers, and stops it (and removes the folder) when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from scripts.serve import free_port

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx" / "default.conf.template"
VARIABLES = (
    "DIGITS_LISTEN",
    "DIGITS_UPSTREAM_SERVERS",
    "DIGITS_STATIC_ROOT",
    "DIGITS_ACCESS_LOG",
    "DIGITS_LIMIT_RATE",
    "DIGITS_LIMIT_BURST",
)
NGINX = "/usr/sbin/nginx"
# What the official image's nginx.conf gives the template's http {} block, written out for Debian's.
MAIN = """\
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log notice;
events {{
    worker_connections 4096;
}}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/default.conf;
}}
"""


def render(values: Mapping[str, str], template: Path = TEMPLATE) -> str:
    """The template with each ``${NAME}`` of ``VARIABLES`` replaced; ``KeyError`` for one not given."""
    missing = [name for name in VARIABLES if name not in values]
    if missing:
        raise KeyError(f"the nginx template needs {', '.join(missing)}")
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m[1]] if m[1] in VARIABLES else m[0], template.read_text())


@dataclass
class Nginx:
    url: str
    process: subprocess.Popen
    folder: Path

    def access_log(self) -> str:
        return (self.folder / "access.log").read_text(errors="replace")

    def error_log(self) -> str:
        return (self.folder / "error.log").read_text(errors="replace")


@contextlib.contextmanager
def running(
    replicas: Sequence[str], *, rate: str = "10000r/s", burst: int = 10000, static: Path = ROOT / "static"
) -> Iterator[Nginx]:
    """nginx on 127.0.0.1 in front of ``replicas`` (``host:port`` each), with a per-client budget of
    ``rate`` and ``burst`` (by default more than a benchmark sends), serving a copy of ``static``;
    see the module docstring."""
    folder = Path(tempfile.mkdtemp(prefix="nginx-"))
    try:
        # Run as root, nginx's workers are `nobody`: they must reach the folder for their buffers, and
        # the static files, which they read from a copy here (a checkout may lie in a folder that only
        # its owner can enter, as a fresh `mktemp -d` clone does).
        folder.chmod(0o755)
        static_root = folder / "static"
        shutil.copytree(static, static_root)
        for path in (static_root, *static_root.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        port = free_port()
        servers = " ".join(f"server {replica} max_fails=1 fail_timeout=5s;" for replica in replicas)
        values = {
            "DIGITS_LISTEN": f"127.0.0.1:{port}",
            "DIGITS_UPSTREAM_SERVERS": servers,
            "DIGITS_STATIC_ROOT": str(static_root),
            "DIGITS_ACCESS_LOG": str(folder / "access.log"),
            "DIGITS_LIMIT_RATE": rate,
            "DIGITS_LIMIT_BURST": str(burst),
        }
        (folder / "default.conf").write_text(render(values))
        (folder / "nginx.conf").write_text(MAIN.format(folder=folder))
        command = [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(folder / "error.log")]
        check = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refuses the rendered template: {check.stderr.strip()}")
        process = subprocess.Popen(
            [*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        server = Nginx(f"http://127.0.0.1:{port}", process, folder)
        try:
            _wait_until_listening(server, port)
            yield server
        finally:
            _stop(process)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_listening(server: Nginx, port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"nginx exited with {server.process.returncode}: {server.error_log()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nginx did not listen on {server.url} within {timeout} s")
        time.sleep(0.05)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGQUIT)  # nginx's graceful stop: its workers finish what they hold
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def available() -> bool:
    """Whether Debian's nginx is installed here."""
    return os.access(NGINX, os.X_OK)
