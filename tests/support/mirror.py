"""A loopback HTTP mirror of some files, for the download tests (the ``serve`` fixture starts them)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Mirror:
    url: str  # ends in "/": the files are at url + name
    root: Path  # the folder it serves
    requests: list[str] = field(default_factory=list)  # the paths asked for, in order


@contextlib.contextmanager
def serving(files: dict[str, bytes], root: Path) -> Iterator[Mirror]:
    """Write ``files`` ({name: content}) into ``root`` (made here; it must not exist) and serve
    them on a free loopback port until the block ends; then shut the server down and join its
    thread."""
    root.mkdir()
    for name, content in files.items():
        (root / name).write_bytes(content)
    mirror = Mirror(url="", root=root)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            mirror.requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    mirror.url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield mirror
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        if thread.is_alive():
            raise RuntimeError(f"the mirror on {mirror.url} did not stop")
