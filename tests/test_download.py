"""model.download against loopback HTTP mirrors serving (or mangling) the real MNIST files."""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from model import data, download
from model.download import DownloadError, download_mnist
from model.mnist import MNIST_FILES
from tests.support.mirror import Mirror

# The failure tests fetch only this 4.5 kB file; the other three are put in place beforehand.
SMALL = "t10k-labels-idx1-ubyte.gz"
ALL = [f"{stem}.gz" for stem in MNIST_FILES]


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A port that accepts connections (into the kernel's backlog) but never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        yield f"http://127.0.0.1:{s.getsockname()[1]}/"


@pytest.fixture
def target(tmp_path: Path, mnist_bytes: dict[str, bytes]) -> Path:
    """A download directory that already holds every file but SMALL."""
    directory = tmp_path / "target"
    directory.mkdir()
    for name in ALL:
        if name != SMALL:
            (directory / name).write_bytes(mnist_bytes[name])
    return directory


def uncompressed_md5(path: Path) -> str:
    return hashlib.md5(gzip.decompress(path.read_bytes())).hexdigest()


def flip_bytes(content: bytes) -> bytes:
    corrupt = bytearray(content)
    for i in range(len(corrupt) // 2, len(corrupt) // 2 + 16):
        corrupt[i] ^= 0xFF
    return bytes(corrupt)


# name -> (what a broken mirror serves for SMALL given the good bytes (None: a 404), a word the
# failure message must contain)
CORRUPTIONS: dict[str, tuple[Callable[[bytes], bytes | None], str]] = {
    "flipped bytes": (flip_bytes, "gzip"),
    "truncated": (lambda b: b[: len(b) // 2], "truncated"),
    "wrong contents": (lambda b: gzip.compress(b"not the MNIST labels"), "MD5"),
    "not gzip": (lambda b: b"<html>Access Denied</html>", "gzip"),
    "missing": (lambda b: None, "404"),
}


def broken_mirror(serve: Callable[[dict[str, bytes]], Mirror], kind: str, good: bytes) -> Mirror:
    content = CORRUPTIONS[kind][0](good)
    return serve({} if content is None else {SMALL: content})


def leftovers(directory: Path) -> list[str]:
    """Files in ``directory`` other than the three the ``target`` fixture put there."""
    return sorted(p.name for p in directory.iterdir() if p.name not in ALL or p.name == SMALL)


@pytest.mark.mnist
def test_downloads_all_four_files_from_a_good_mirror(tmp_path, serve, mnist_bytes):
    mirror = serve(mnist_bytes)
    out = io.StringIO()
    paths = download_mnist(tmp_path / "new" / "dir", [mirror.url], stream=out)

    assert paths == [tmp_path / "new" / "dir" / name for name in ALL]
    for path, (stem, md5) in zip(paths, MNIST_FILES.items(), strict=True):
        assert path.name == f"{stem}.gz"
        assert uncompressed_md5(path) == md5
        assert path.read_bytes() == mnist_bytes[path.name]  # written exactly as received
    assert sorted(p.name for p in paths[0].parent.iterdir()) == sorted(ALL)  # no temp files
    assert sorted(mirror.requests) == sorted(f"/{name}" for name in ALL)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert f"train-images-idx3-ubyte.gz: ok (9.7 MB from {mirror.url})" in lines


@pytest.mark.mnist
@pytest.mark.parametrize("bad", ["dead", "silent", *CORRUPTIONS])
def test_a_failing_mirror_is_reported_and_the_next_one_used(bad, request, serve, target, mnist_bytes):
    if bad in ("dead", "silent"):
        bad_url, word = request.getfixturevalue(f"{bad}_url"), {"dead": "refused", "silent": "timed out"}[bad]
    else:
        bad_url, word = broken_mirror(serve, bad, mnist_bytes[SMALL]).url, CORRUPTIONS[bad][1]
    good = serve({SMALL: mnist_bytes[SMALL]})
    out = io.StringIO()

    download_mnist(target, [bad_url, good.url], timeout=0.5, stream=out)

    assert (target / SMALL).read_bytes() == mnist_bytes[SMALL]
    assert leftovers(target) == [SMALL]
    failures = [line for line in out.getvalue().splitlines() if "failed" in line]
    assert len(failures) == 1
    assert failures[0].startswith(f"{SMALL}: {bad_url} failed")
    assert word in failures[0]
    assert f"{SMALL}: ok (4.5 kB from {good.url})" in out.getvalue()


@pytest.mark.mnist
@pytest.mark.parametrize("kinds", [["dead"], ["flipped bytes"], ["wrong contents", "dead", "truncated"]])
def test_when_every_mirror_fails_nothing_is_written(kinds, dead_url, serve, target, mnist_bytes):
    urls = [dead_url if k == "dead" else broken_mirror(serve, k, mnist_bytes[SMALL]).url for k in kinds]

    with pytest.raises(DownloadError) as caught:
        download_mnist(target, urls, stream=io.StringIO())

    message = str(caught.value)
    assert SMALL in message
    assert "\n" not in message
    for url in urls:
        assert url in message
    assert [base for base, _ in caught.value.failures] == urls
    assert leftovers(target) == []  # neither the file nor a temp file


@pytest.mark.mnist
def test_valid_files_already_present_are_not_fetched_again(serve, target, mnist_bytes):
    (target / SMALL).write_bytes(mnist_bytes[SMALL])
    mirror = serve(mnist_bytes)
    out = io.StringIO()

    download_mnist(target, [mirror.url], stream=out)

    assert mirror.requests == []
    assert out.getvalue().count("ok (already present)") == 4


@pytest.mark.mnist
@pytest.mark.parametrize("kind", ["flipped bytes", "truncated", "wrong contents"])
def test_an_invalid_file_already_present_is_replaced(kind, serve, target, mnist_bytes):
    (target / SMALL).write_bytes(CORRUPTIONS[kind][0](mnist_bytes[SMALL]))
    mirror = serve({SMALL: mnist_bytes[SMALL]})
    out = io.StringIO()

    download_mnist(target, [mirror.url], stream=out)

    assert mirror.requests == [f"/{SMALL}"]
    assert (target / SMALL).read_bytes() == mnist_bytes[SMALL]
    assert f"{SMALL}: present but invalid" in out.getvalue()


@pytest.mark.mnist
def test_progress_bar_is_drawn_on_a_terminal(serve, target, mnist_bytes):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    mirror = serve({SMALL: mnist_bytes[SMALL]})
    out = Terminal()
    download_mnist(target, [mirror.url], stream=out)
    assert f"\r{SMALL} [" in out.getvalue()
    assert f"{len(mnist_bytes[SMALL]):,}/{len(mnist_bytes[SMALL]):,} " in out.getvalue()


@pytest.mark.mnist
def test_mirrors_come_from_the_environment(monkeypatch, dead_url, serve, target, mnist_bytes):
    good = serve({SMALL: mnist_bytes[SMALL]})
    monkeypatch.setenv("DIGITS_MNIST_MIRRORS", f" {dead_url}, \n {good.url}")
    out = io.StringIO()

    download_mnist(target, stream=out)

    assert f"{SMALL}: {dead_url} failed" in out.getvalue()
    assert (target / SMALL).read_bytes() == mnist_bytes[SMALL]


@pytest.mark.parametrize(
    ("env", "given", "expected"),
    [
        (None, None, download.DEFAULT_MIRRORS),
        ("  ", None, download.DEFAULT_MIRRORS),
        ("http://a/x, http://b/\nhttp://c/", None, ["http://a/x/", "http://b/", "http://c/"]),
        ("http://a/", ["http://z"], ["http://z/"]),
    ],
)
def test_configured_mirrors(monkeypatch, env, given, expected):
    if env is None:
        monkeypatch.delenv("DIGITS_MNIST_MIRRORS", raising=False)
    else:
        monkeypatch.setenv("DIGITS_MNIST_MIRRORS", env)
    assert download.configured_mirrors(given) == expected


def test_no_mirrors_is_an_error(tmp_path):
    with pytest.raises(DownloadError, match="no mirrors"):
        download_mnist(tmp_path, [" "], stream=io.StringIO())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.mnist
def test_cli_downloads_and_its_mirror_flag_overrides_the_environment(
    monkeypatch, capsys, dead_url, serve, target, mnist_bytes
):
    monkeypatch.setenv("DIGITS_MNIST_MIRRORS", dead_url)
    mirror = serve({SMALL: mnist_bytes[SMALL]})

    assert data.main(["download", str(target), "--mirror", mirror.url]) == 0

    err = capsys.readouterr().err
    assert dead_url not in err
    assert f"{SMALL}: ok (4.5 kB from {mirror.url})" in err
    assert (target / SMALL).read_bytes() == mnist_bytes[SMALL]


@pytest.mark.mnist
@pytest.mark.parametrize("entry", [data.main, download.main])
def test_cli_failure_is_one_error_line_and_exit_status_1(entry, capsys, dead_url, serve, target, mnist_bytes):
    bad = broken_mirror(serve, "wrong contents", mnist_bytes[SMALL])
    argv = [str(target), "--mirror", dead_url, "--mirror", bad.url, "--timeout", "2"]

    assert entry(["download", *argv] if entry is data.main else argv) == 1

    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [err.splitlines()[-1]]
    assert SMALL in errors[0] and dead_url in errors[0] and bad.url in errors[0]
    assert "Traceback" not in err
    assert leftovers(target) == []


def test_cli_rejects_a_bad_timeout(capsys, tmp_path):
    with pytest.raises(SystemExit) as caught:
        download.main([str(tmp_path), "--timeout", "0"])
    assert caught.value.code == 2
    assert "positive" in capsys.readouterr().err


def test_an_unusable_directory_is_reported_not_raised(capsys, tmp_path, dead_url):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    assert data.main(["download", str(blocker / "sub"), "--mirror", dead_url]) == 1

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error:") and str(blocker) in lines[0]
