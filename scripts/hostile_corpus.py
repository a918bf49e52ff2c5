"""A corpus of hostile and malformed requests to ``POST /predict``, ``/api/feedback``, the review
page (``/review``) and a few other routes.

Each ``Case`` is one HTTP/1.1 request sent over a raw socket (``send``), so that it can lie about
its length, use chunked transfer encoding, trickle its body, or hang up half-way. ``expected`` is
the set of statuses a correct server may answer with: the documented 4xx, or 200 where the image
is odd but valid; an empty set means no answer: the client hangs up, or it is too slow and the
server closes the connection without one (headers not in within gunicorn's keepalive).
``codes``, when given, narrows the error codes the answer may carry (``expired_sample``, not any
400); ``page`` says the app answers as the review page (HTML), not with the JSON error.

The sample-token and review cases carry what a server configured with ``server_env`` (the secret
keys ``SECRET_KEYS``, newest first, and ``ADMIN_TOKEN``) hands out: tokens for real readings,
signed now, long ago, in the future or under other keys, and review sessions, a visitor's and
the admin's (``Issued``, made by the app itself in this process with those settings). The admin's
session stands for the cookie a victim's browser attaches to a forged cross-site request; no
case that carries it gets past a check. No case carries a token the server should store.

    python scripts/hostile_corpus.py OUTDIR

writes each case's raw request to ``OUTDIR/<name>.http``, an ``index.json`` describing them and
``server.env``, the settings to serve them to, for replaying by hand (e.g.
``env $(cat OUTDIR/server.env) gunicorn wsgi:app``, then
``nc 127.0.0.1 8000 < OUTDIR/png_bomb_100k_square.http``); its tokens expire with
``DIGITS_SAMPLE_MAX_AGE`` (a day) and its review sessions after ``app.review.SESSION_HOURS``.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import io
import json
import random
import re
import socket
import struct
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from unittest import mock
from urllib.parse import urlencode

import numpy as np
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app, review, samples  # noqa: E402
from app.settings import DEFAULTS  # noqa: E402
from model.shape import CLASSES  # noqa: E402

# Put into every payload that carries text, and never allowed back in an answer.
MARKER = "HOSTILE-7c1e-MARKER"

# The app's limits (app.settings.DEFAULTS): image bytes, and Werkzeug's body limit derived from it.
MAX_BYTES = DEFAULTS["MAX_BYTES"]
MAX_BODY = MAX_BYTES * 4 // 3 + 64 * 1024

OK, BAD, FORBIDDEN, TIMEOUT, TOO_LARGE, UNSUPPORTED, NO_DIGIT = 200, 400, 403, 408, 413, 415, 422
ANY_IMAGE_OUTCOME = frozenset({OK, BAD, TOO_LARGE, NO_DIGIT})  # a corrupted image may decode to anything

Body = bytes | Callable[[], Iterable[bytes]]  # bytes, or a function giving the body lazily in pieces


@dataclass(frozen=True)
class Pace:
    """Send ``piece`` bytes at a time with ``delay`` seconds between pieces (the head too if ``head``)."""

    piece: int
    delay: float
    head: bool = False


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: Body
    expected: frozenset[int]
    pace: Pace | None = None
    hangup_after: int | None = None  # close the connection after this many body bytes, reading nothing
    half_close: bool = False  # shut down the sending side after the body, then read the answer
    app: bool = True  # answered by the app (so a 4xx is JSON), not refused by gunicorn itself
    codes: frozenset[str] = frozenset()  # the error codes the answer may carry; empty: any of its status
    page: bool = False  # answered by the review page: HTML, its errors too
    note: str = ""

    def head(self, host: str = "127.0.0.1", port: int = 8000) -> bytes:
        """The request line and headers; Host, Connection: close and Content-Length are added
        unless the case sets them (or uses Transfer-Encoding)."""
        names = {name.lower() for name, _ in self.headers}
        lines = [f"{self.method} {self.path} HTTP/1.1"]
        if "host" not in names:
            lines.append(f"Host: {host}:{port}")
        if "connection" not in names:
            lines.append("Connection: close")
        lines += [f"{name}: {value}" for name, value in self.headers]
        if not names & {"content-length", "transfer-encoding"} and (self.method in ("POST", "PUT") or self.body):
            lines.append(f"Content-Length: {len(self.body_bytes())}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def pieces(self) -> Iterator[bytes]:
        """The body, in the pieces it is sent in."""
        if isinstance(self.body, bytes):
            if self.body:
                yield self.body
        else:
            yield from self.body()

    def body_bytes(self) -> bytes:
        """The whole body at once (only for bodies given as bytes)."""
        if not isinstance(self.body, bytes):
            raise ValueError(f"{self.name}: a streamed body has no bytes; set its Content-Length header")
        return self.body


# -------------------------------------------------------------------------------------------
# Sending a case
# -------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


def send(case: Case, host: str, port: int, timeout: float = 30.0, source: str | None = None) -> Answer | None:
    """Send ``case`` to ``host:port`` and read the answer (None if the case hangs up, or the server
    closes the connection without answering). ``source`` is the local address to send from (another
    loopback address is another client to the rate limits).

    The body is sent by a second thread while this one reads, so that an early answer (a 413
    before a 50 MB body is through) is read before the server closes the connection.
    """
    source_address = None if source is None else (source, 0)
    with socket.create_connection((host, port), timeout=timeout, source_address=source_address) as sock:
        head = case.head(host, port)
        if case.hangup_after is not None:
            sock.sendall(head)
            sock.sendall(b"".join(case.pieces())[: case.hangup_after])
            return None
        stop = threading.Event()

        def write() -> None:
            try:
                if case.pace and case.pace.head:
                    _trickle(sock, head, case.pace, stop)
                else:
                    sock.sendall(head)
                for piece in case.pieces():
                    if stop.is_set():
                        return
                    if case.pace:
                        _trickle(sock, piece, case.pace, stop)
                    else:
                        sock.sendall(piece)
                if case.half_close:
                    sock.shutdown(socket.SHUT_WR)
            except OSError:  # the server answered and closed while the body was still going
                pass

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        received = bytearray()
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        finally:
            stop.set()
            writer.join(timeout)
    # Nothing at all: the server closed the connection without answering (a client too slow).
    return parse_answer(bytes(received)) if received else None


def _trickle(sock: socket.socket, data: bytes, pace: Pace, stop: threading.Event) -> None:
    for i in range(0, len(data), pace.piece):
        if stop.is_set():
            return
        sock.sendall(data[i : i + pace.piece])
        time.sleep(pace.delay)


def parse_answer(raw: bytes) -> Answer:
    """The final answer in ``raw`` (after any interim 1xx, e.g. 100 Continue)."""
    while True:
        head, sep, body = raw.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError(f"no complete HTTP answer ({len(raw)} bytes)")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        if not status_line.split()[1].startswith("1"):
            break
        raw = body
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    elif "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return Answer(int(status_line.split()[1]), headers, body)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


# -------------------------------------------------------------------------------------------
# Payloads
# -------------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def digit_image(size: int = 140) -> Image.Image:
    """A '7' in thick dark strokes on white, as drawn on the page."""
    image = Image.new("RGB", (size, size), "white")
    s = size / 280
    ImageDraw.Draw(image).line(
        [(70 * s, 50 * s), (210 * s, 50 * s), (120 * s, 240 * s)], fill="black", width=round(22 * s), joint="curve"
    )
    return image


def digit_png() -> bytes:
    return encode(digit_image(), "PNG")


def digit_jpeg() -> bytes:
    return encode(digit_image(), "JPEG", quality=85)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_with_chunks(width: int, height: int, idat: bytes, *, extra: bytes = b"", depth: int = 1) -> bytes:
    """A greyscale PNG from its parts: IHDR claiming ``width`` x ``height``, ``extra`` chunks, one IDAT."""
    header = struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + extra + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


def zeros_deflated(n: int) -> bytes:
    """``n`` zero bytes, zlib-compressed without ever holding them all."""
    z = zlib.compressobj(9)
    block = bytes(1 << 20)
    out = [z.compress(block[: min(len(block), n - i)]) for i in range(0, n, len(block))]
    return b"".join(out) + z.flush()


def png_bomb(width: int, height: int) -> bytes:
    """A PNG header claiming ``width`` x ``height`` 1-bit pixels over a few hundred bytes of data."""
    return png_with_chunks(width, height, zlib.compress(b"\x00" * (1 + (width + 7) // 8) * min(height, 64), 9))


def png_blank_at_limit() -> bytes:
    """4000 x 4000 = exactly 16,000,000 pixels (the limit), 1-bit, all data present: ~2 MB of rows in ~2 KB."""
    return png_with_chunks(4000, 4000, zeros_deflated((1 + 500) * 4000))


def png_idat_bomb() -> bytes:
    """A 100 x 100 PNG whose IDAT inflates to 20 MB (far more than the 1.3 KB of rows it needs)."""
    return png_with_chunks(100, 100, zeros_deflated(20 * 1024 * 1024))


def png_ztxt_bomb() -> bytes:
    """A digit PNG with a zTXt text chunk that inflates to 50 MB."""
    png = digit_png()
    ztxt = png_chunk(b"zTXt", b"Comment\x00\x00" + zeros_deflated(50 * 1024 * 1024))
    return png[:33] + ztxt + png[33:]  # after the 8-byte signature and the 25-byte IHDR chunk


def apng_oversized_frame() -> bytes:
    """An APNG whose first frame control claims a 100,000 x 100,000 frame in a 140 x 140 image."""
    png = digit_png()
    actl = png_chunk(b"acTL", struct.pack(">II", 1, 0))
    fctl = png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, 100_000, 100_000, 0, 0, 1, 10, 0, 0))
    return png[:33] + actl + fctl + png[33:]


def png_exif_garbage() -> bytes:
    """A digit PNG with an eXIf chunk whose IFD points far outside itself and loops on itself."""
    ifd = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 2)
    ifd += struct.pack(">HHII", 0x0112, 3, 1, 0x00090000)  # Orientation 9 (no such orientation)
    ifd += struct.pack(">HHII", 0x8769, 4, 1, 8)  # an Exif sub-IFD at offset 8: the IFD itself
    ifd += struct.pack(">I", 0x7FFFFFF0)  # next IFD: far beyond the data
    png = digit_png()
    return png[:33] + png_chunk(b"eXIf", ifd) + png[33:]


def gif(screen: tuple[int, int], frame: tuple[int, int], lzw: bytes = b"\x02\x02\x4c\x01\x00") -> bytes:
    """A two-colour GIF: logical screen ``screen``, one frame of ``frame`` pixels, ``lzw`` image data."""
    header = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, *frame, 0)
    return header + descriptor + lzw + b"\x3b"


def gif_js_polyglot() -> bytes:
    """A GIF that is also JavaScript: the width bytes are '/*', the trailer closes the comment."""
    data = bytearray(gif((1, 1), (1, 1)))
    data[6:8] = b"/*"  # width 0x2A2F = 10,799
    return bytes(data) + f"*/=1;alert('{MARKER}');".encode()


def jpeg_with_size(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) is rewritten to claim ``width`` x ``height``."""
    data = bytearray(digit_jpeg())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def jpeg_with_segment(marker: bytes, payload: bytes) -> bytes:
    """A digit JPEG with one more segment right after SOI."""
    jpeg = digit_jpeg()
    return jpeg[:2] + marker + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def jpeg_exif_garbage() -> bytes:
    ifd = b"II\x2a\x00\x08\x00\x00\x00" + struct.pack("<H", 0xFFFF)  # 65,535 entries, none present
    return jpeg_with_segment(b"\xff\xe1", b"Exif\x00\x00" + ifd)


def bmp_header(width: int, height: int, bits: int = 24) -> bytes:
    """A BMP file and info header claiming ``width`` x ``height``, with 16 bytes of pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + 16, 0, 0, 14 + 40) + info + b"\x00" * 16


def webp_canvas_bomb() -> bytes:
    """An extended WebP (VP8X) claiming a 16,384 x 16,384 canvas, holding a 1 x 1 lossless image."""
    small = encode(Image.new("RGB", (1, 1), "white"), "WEBP", lossless=True)
    vp8l = small[12:]  # the image chunk after 'RIFF' size 'WEBP'
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (16383).to_bytes(3, "little") * 2
    payload = b"WEBP" + vp8x + vp8l
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def flip_bits(data: bytes, positions: Iterable[int]) -> bytes:
    """``data`` with one bit flipped at each byte position (bit chosen by the position)."""
    out = bytearray(data)
    for p in positions:
        out[p % len(out)] ^= 1 << (p % 8)
    return bytes(out)


def random_positions(seed: int, start: int, stop: int, count: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(start, stop) for _ in range(count)]


def zip_archive(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


SVG = f'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><text y="20">7 {MARKER}</text></svg>'.encode()
HTML = f"<!doctype html><html><body><script>alert('{MARKER}')</script></body></html>".encode()
PDF = f"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% {MARKER}\ntrailer << /Root 1 0 R >>\n%%EOF\n".encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def json_body(value: object) -> bytes:
    return json.dumps(value).encode()


def json_many_keys(size: int) -> bytes:
    """A JSON object of about ``size`` bytes of junk keys, without an 'image'."""
    count = size // 15  # each key is '"k000000001":0,'
    return ("{" + ",".join(f'"k{i:09d}":0' for i in range(count)) + "}").encode()


def multipart(parts: Iterable[tuple[str, str | None, str | None, bytes]], boundary: str = "hostileBoundary") -> bytes:
    """A multipart/form-data body of (field name, filename or None, content type or None, data) parts."""
    out = bytearray()
    for name, filename, content_type, data in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if content_type is not None:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


MULTIPART = "multipart/form-data; boundary=hostileBoundary"
CHUNKED = {"Transfer-Encoding": "chunked"}


def chunked(parts: Iterable[bytes]) -> Iterator[bytes]:
    """``parts`` in HTTP/1.1 chunked transfer encoding, then the last chunk."""
    for part in parts:
        if part:
            yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
    yield b"0\r\n\r\n"


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def zeros_stream(total: int, piece: int = 64 * 1024) -> Callable[[], Iterator[bytes]]:
    """A body of ``total`` zero bytes, made lazily from one reused block."""

    def pieces() -> Iterator[bytes]:
        block = bytes(piece)
        for i in range(0, total, piece):
            yield block[: min(piece, total - i)]

    return pieces


# -------------------------------------------------------------------------------------------
# What the server hands out: sample tokens and review sessions
# -------------------------------------------------------------------------------------------

# The secret keys of the server the corpus is made for, newest first (DIGITS_SECRET_KEY): the
# first signs, both verify, as in the middle of a key rotation.
SECRET_KEYS = ("hostile-corpus-key-2-current", "hostile-corpus-key-1-previous")
# The key before those, rotated out once its tokens had expired: what it signed no longer verifies.
RETIRED_KEY = "hostile-corpus-key-0-retired"
# A key the server never had.
OTHER_KEY = "hostile-corpus-key-of-another-server"
ADMIN_TOKEN = "hostile-corpus-admin-token-0123456789"
# Keys someone re-signing an altered token might try: common ones, and the admin token (not a signing key).
GUESSED_KEYS = {"secret": "secret", "changeme": "changeme", "admin_token": ADMIN_TOKEN}
SAMPLE_MAX_AGE: int = DEFAULTS["SAMPLE_MAX_AGE"]
EVIL_ORIGIN = "https://evil.example"
FORM = "application/x-www-form-urlencoded"
_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def server_env(secret_keys: Iterable[str] = SECRET_KEYS, admin_token: str = ADMIN_TOKEN) -> dict[str, str]:
    """The settings of the server that the token and review cases are made for."""
    return {"DIGITS_SECRET_KEY": ",".join(secret_keys), "DIGITS_ADMIN_TOKEN": admin_token}


@dataclass(frozen=True)
class Session:
    """A review session: its cookie's value and the CSRF token its forms carry."""

    cookie: str
    csrf: str


@dataclass(frozen=True)
class Issued:
    """What a server with the corpus's settings hands out, or would have (``issue``). Every token
    is for one real reading of ``digit_png``."""

    reading: str  # the token of a /predict answer, issued now under the newest key
    previous_key: str  # the same reading's token under the older key, which still verifies (the one to store)
    expired: str  # issued an hour longer ago than the accepted age
    expired_previous_key: str
    refreshed: str  # the expired token with a current timestamp and its old signature
    future: str  # dated a day from now
    other_key: str  # signed under a key the server never had
    retired_key: str  # signed under the key rotated out
    altered: dict[str, str]  # the reading altered (another prediction, inverted pixels), re-signed per guessed key
    altered_signature_kept: str  # the altered payload with the reading's own timestamp and signature
    visitor: Session  # a visitor's, from GET /review
    admin: Session  # the admin's, signed in
    forged: Session  # signed in as the admin's would be, but signed under a guessed key


@functools.cache
def issue(
    secret_keys: tuple[str, ...] = SECRET_KEYS, admin_token: str = ADMIN_TOKEN, sample_max_age: int = SAMPLE_MAX_AGE
) -> Issued:
    """Tokens and sessions made by the app itself, ``create_app`` with these settings in this
    process (its feedback database in a temporary folder, never written), through its own routes
    and ``app.samples``' functions; a token's time is moved with itsdangerous' clock."""
    with tempfile.TemporaryDirectory(prefix="hostile-corpus-") as scratch:
        server = _app(secret_keys, admin_token, Path(scratch))
        answer = server.test_client().post("/predict", data=digit_png(), content_type="image/png")
        if answer.status_code != OK:
            raise RuntimeError(f"the app answers {answer.status_code} to a digit: {answer.get_data(as_text=True)}")
        reading = answer.get_json()["sample"]
        keys = samples.keys_of(server)
        sample = samples.verify(reading, keys, sample_max_age)
        now = int(time.time())
        expired = _signed_at(now - sample_max_age - 3600, sample, keys)
        altered = dataclasses.replace(sample, prediction=(sample.prediction + 1) % CLASSES, pixels=255 - sample.pixels)
        _, issued_at, signature = reading.split(".")
        expired_payload, _, expired_signature = expired.split(".")
        return Issued(
            reading=reading,
            previous_key=samples.sign(sample, keys[1:]),
            expired=expired,
            expired_previous_key=_signed_at(now - sample_max_age - 3600, sample, keys[1:]),
            refreshed=f"{expired_payload}.{issued_at}.{expired_signature}",
            future=_signed_at(now + 24 * 3600, sample, keys),
            other_key=samples.sign(sample, [OTHER_KEY]),
            retired_key=samples.sign(sample, [RETIRED_KEY]),
            altered={name: samples.sign(altered, [key]) for name, key in GUESSED_KEYS.items()},
            altered_signature_kept=f"{samples.sign(altered, keys).split('.')[0]}.{issued_at}.{signature}",
            visitor=_visitor(server),
            admin=_signed_in(server, admin_token),
            forged=_signed_in(_app((OTHER_KEY,), admin_token, Path(scratch)), admin_token),
        )


def _app(secret_keys: Iterable[str], admin_token: str, scratch: Path) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": list(secret_keys),
            "ADMIN_TOKEN": admin_token,
            "FEEDBACK_DB": str(scratch / "feedback.sqlite"),
            "RATE_LIMITS": "off",
        }
    )


def _signed_at(when: int, sample: samples.Sample, keys: Sequence[samples.Key]) -> str:
    """``sample``'s token as ``samples.sign`` would have issued it at ``when`` (a Unix time)."""
    with mock.patch.object(TimestampSigner, "get_timestamp", lambda self: when):
        return samples.sign(sample, keys)


def _csrf_of(html: str) -> str:
    found = _CSRF_FIELD.search(html)
    if found is None:
        raise RuntimeError("the review page has no form with a CSRF token")
    return found[1]


def _cookie_of(client: FlaskClient) -> str:
    cookie = client.get_cookie(review.COOKIE, path="/review")
    if cookie is None:
        raise RuntimeError("the review page set no session cookie")
    return cookie.value


def _visitor(server: Flask) -> Session:
    client = server.test_client()
    page = client.get("/review")
    return Session(_cookie_of(client), _csrf_of(page.get_data(as_text=True)))


def _signed_in(server: Flask, admin_token: str) -> Session:
    client = server.test_client()
    page = client.get("/review")
    signed = client.post("/review/sign-in", data={"csrf": _csrf_of(page.get_data(as_text=True)), "token": admin_token})
    if signed.status_code != 303:
        raise RuntimeError(f"signing in with the admin token was answered {signed.status_code}")
    gallery = client.get("/review")
    return Session(_cookie_of(client), _csrf_of(gallery.get_data(as_text=True)))


# -------------------------------------------------------------------------------------------
# The corpus
# -------------------------------------------------------------------------------------------


def _statuses(*codes: int) -> frozenset[int]:
    return frozenset(codes)


def _case(
    name: str,
    body: Body = b"",
    content_type: str | None = "image/png",
    expected: Iterable[int] = (BAD,),
    *,
    method: str = "POST",
    path: str = "/predict",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    **options,
) -> Case:
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
    if content_type is not None:
        pairs.insert(0, ("Content-Type", content_type))
    if "codes" in options:
        options["codes"] = frozenset(options["codes"])
    return Case(name, method, path, tuple(pairs), body, frozenset(expected), **options)


def image_cases() -> list[Case]:
    """Bombs, truncations, corruptions and odd sizes, sent as raw image bodies."""
    png, jpeg = digit_png(), digit_jpeg()
    idat = png.find(b"IDAT")
    sos = jpeg.find(b"\xff\xda")
    jp, anything = "image/jpeg", ANY_IMAGE_OUTCOME
    return [
        # Decompression bombs: headers claiming huge images over tiny data.
        _case("png_bomb_100k_square", png_bomb(100_000, 100_000), expected=[TOO_LARGE]),
        _case("png_bomb_60000x2", png_bomb(60_000, 2), expected=[TOO_LARGE]),
        _case("png_real_60000x2", encode(Image.new("L", (60_000, 2), 255), "PNG"), expected=[TOO_LARGE]),
        _case("png_blank_at_pixel_limit", png_blank_at_limit(), expected=[NO_DIGIT]),
        _case("png_idat_inflates_to_20mb", png_idat_bomb(), expected=[NO_DIGIT]),
        _case("png_ztxt_inflates_to_50mb", png_ztxt_bomb(), expected=[OK, BAD]),
        _case("apng_frame_larger_than_image", apng_oversized_frame(), expected=[OK, BAD, TOO_LARGE]),
        _case("gif_bomb_logical_screen", gif((65535, 65535), (1, 1)), "image/gif", [TOO_LARGE]),
        _case("gif_bomb_frame_in_small_screen", gif((10, 10), (65535, 65535)), "image/gif", [TOO_LARGE]),
        _case("gif_frame_at_pixel_limit", gif((10, 10), (4000, 4000)), "image/gif", [BAD, TOO_LARGE, NO_DIGIT]),
        _case("jpeg_sof_65500_square", jpeg_with_size(65_500, 65_500), jp, [TOO_LARGE]),
        _case("jpeg_sof_at_pixel_limit", jpeg_with_size(4000, 4000), jp, [BAD, NO_DIGIT, OK]),
        _case("bmp_header_30000_square", bmp_header(30_000, 30_000), "image/bmp", [TOO_LARGE]),
        _case("bmp_height_min_int", bmp_header(1, -(2**31)), "image/bmp", [BAD, TOO_LARGE]),
        _case("webp_vp8x_canvas_bomb", webp_canvas_bomb(), "image/webp", [BAD, TOO_LARGE]),
        # Truncated.
        _case("png_truncated_half", png[: len(png) // 2]),
        _case("png_truncated_in_header", png[:20]),
        _case("png_zero_dimensions", png_with_chunks(0, 0, zlib.compress(b"\x00"))),
        _case("jpeg_truncated_half", jpeg[: len(jpeg) // 2], jp, [BAD, NO_DIGIT]),
        _case("jpeg_truncated_in_header", jpeg[:30], "image/jpeg"),
        # Bit flips in headers and in the compressed data (seeded, so each case is one fixed file).
        _case("png_bitflip_ihdr", flip_bits(png, [17, 21, 24]), expected=anything),
        _case("png_bitflip_idat", flip_bits(png, random_positions(1, idat + 8, len(png) - 16, 4)), expected=anything),
        _case("png_bitflip_many", flip_bits(png, random_positions(2, 8, len(png), 40)), expected=anything),
        _case("jpeg_bitflip_header", flip_bits(jpeg, random_positions(3, 2, sos, 6)), jp, anything),
        _case("jpeg_bitflip_data", flip_bits(jpeg, random_positions(4, sos + 14, len(jpeg) - 2, 8)), jp, anything),
        _case("jpeg_bitflip_many", flip_bits(jpeg, random_positions(5, 2, len(jpeg), 60)), jp, anything),
        _case("jpeg_sof_flipped_to_zero_width", jpeg_with_size(0, 140), jp, [BAD]),
        # Odd but valid, and empty.
        _case("zero_bytes", b""),
        _case("one_by_one_white", encode(Image.new("L", (1, 1), 255), "PNG"), expected=[NO_DIGIT]),
        _case("one_by_one_black_jpeg", encode(Image.new("RGB", (1, 1)), "JPEG"), jp, [NO_DIGIT]),
        _case("png_exif_garbage", png_exif_garbage(), expected=[OK, BAD]),
        _case("jpeg_exif_65535_entries", jpeg_exif_garbage(), jp, [OK, BAD]),
        _case("gif_declared_as_jpeg", encode(digit_image().convert("P"), "GIF"), jp, [OK]),
    ]


def strokes_grid(rows: int, columns: int, pitch: int = 80) -> bytes:
    """A PNG of ``rows`` x ``columns`` upright strokes, each apart from the others: that many ones."""
    pixels = np.full((rows * pitch, columns * pitch), 255, dtype=np.uint8)
    for r in range(rows):
        for c in range(columns):
            top, left = r * pitch + pitch // 4, c * pitch + pitch // 2
            pixels[top : top + pitch // 2, left : left + 8] = 0
    return encode(Image.fromarray(pixels, mode="L"), "PNG")


def all_shadow_photo() -> bytes:
    """A phone photo of paper and nothing on it but a soft shadow across it, as a JPEG."""
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:640, 0:640] / 640
    paper = 0.85 - 0.15 * x - 0.1 * y  # light falling off across the page
    shadow = 0.45 / (1 + np.exp(-(x + 0.6 * y - 0.9) * 12))  # a soft-edged shadow over one corner
    grey = np.clip(paper - shadow + rng.normal(0, 0.02, x.shape), 0, 1)
    warm = np.stack([grey, grey * 0.96, grey * 0.88], axis=-1)
    return encode(Image.fromarray(np.rint(warm * 255).astype(np.uint8), mode="RGB"), "JPEG", quality=70)


def noise_image(seed: int = 12) -> bytes:
    """A 640x640 PNG of uniform random grey noise."""
    pixels = np.random.default_rng(seed).integers(0, 256, (640, 640), dtype=np.uint8)
    return encode(Image.fromarray(pixels, mode="L"), "PNG")


def read_cases() -> list[Case]:
    """Whole numbers (``/api/read``), photos and the images that are neither: their documented answers."""
    number, jp = "/api/read", "image/jpeg"
    too_many = frozenset({"too_many_digits"})
    return [
        # A thousand digits: counted only up to the limit, and refused.
        _case("read_a_thousand_digits", strokes_grid(20, 50), path=number, expected=[NO_DIGIT], codes=too_many),
        _case("read_thirteen_digits", strokes_grid(1, 13), path=number, expected=[NO_DIGIT], codes=too_many),
        _case("read_a_digit", digit_png(), path=number, expected=[OK]),
        # Paper with nothing on it but a shadow: not a digit, on either path.
        _case("photo_all_shadow", all_shadow_photo(), jp, [NO_DIGIT], codes={"no_digit"}),
        _case("read_photo_all_shadow", all_shadow_photo(), jp, [NO_DIGIT], path=number, codes={"no_digit"}),
        # Noise: whatever it is taken for, an answer of the documented kinds.
        _case("noise", noise_image(), expected=[OK, NO_DIGIT], codes={"no_digit"}),
        _case("read_noise", noise_image(), path=number, expected=[OK, NO_DIGIT], codes={"no_digit", *too_many}),
        # The image errors of /predict, on /api/read.
        _case("read_png_bomb", png_bomb(100_000, 100_000), path=number, expected=[TOO_LARGE]),
        _case("read_truncated", digit_png()[:200], path=number),
        _case("read_zero_bytes", b"", path=number),
        _case("read_blank", encode(Image.new("L", (2000, 200), 255), "PNG"), path=number, expected=[NO_DIGIT]),
        _case("read_not_json", b"{", "application/json", path=number, codes={"invalid_json"}),
        _case("read_bad_model", digit_png(), path=number + "?model=../seed", codes={"unknown_model"}),
        _case("predict_explain_bad", digit_png(), path="/predict?explain=2", codes={"invalid_parameter"}),
    ]


def format_cases() -> list[Case]:
    """Files that are not accepted images, some pretending to be."""
    png = digit_png()
    tiff = encode(digit_image(), "TIFF")
    return [
        _case("svg_as_svg", SVG, "image/svg+xml", [UNSUPPORTED]),
        _case("svg_as_png", SVG),
        _case("pdf_as_png", PDF),
        _case("pdf_as_pdf", PDF, "application/pdf", [UNSUPPORTED]),
        _case("html_as_png", HTML),
        _case("html_as_html", HTML, "text/html", [UNSUPPORTED]),
        _case("zip_as_png", zip_archive({f"{MARKER}.png": png})),
        _case("tiff_as_png", tiff),
        _case("ico_as_png", encode(digit_image(), "ICO")),
        _case("polyglot_gif_js", gif_js_polyglot(), "image/gif", [BAD, TOO_LARGE]),
        _case("polyglot_png_zip", png + zip_archive({"x.js": f"alert('{MARKER}')".encode()}), expected=[OK]),
        _case("polyglot_zip_png", zip_archive({"x.js": MARKER.encode()}) + png),
        _case(
            "png_with_html_text_chunk", png[:33] + png_chunk(b"tEXt", b"Comment\x00" + HTML) + png[33:], expected=[OK]
        ),
        _case(
            "jpeg_with_php_comment",
            jpeg_with_segment(b"\xff\xfe", f"<?php echo '{MARKER}'; ?>".encode()),
            "image/jpeg",
            [OK],
        ),
    ]


def json_cases() -> list[Case]:
    """JSON bodies of the wrong shape, type, size or encoding."""
    png = digit_png()
    j = "application/json"
    return [
        _case("json_image_number", json_body({"image": 7}), j),
        _case("json_image_list", json_body({"image": [b64(png)]}), j),
        _case("json_image_object", json_body({"image": {"data": b64(png)}}), j),
        _case("json_image_null", json_body({"image": None}), j),
        _case("json_image_bool", json_body({"image": True}), j),
        _case("json_image_nan", b'{"image": NaN}', j),
        _case("json_image_1e999999", b'{"image": 1e999999}', j),
        _case("json_bignum_100k_digits", b'{"image": ' + b"9" * 100_000 + b"}", j),
        _case("json_top_level_string", json_body(b64(png)), j),
        _case("json_wrong_field_name", json_body({"img": b64(png), MARKER: MARKER}), j),
        _case("json_duplicate_image_key", b'{"image": 1, "image": "' + b64(png).encode() + b'"}', j, [OK]),
        _case("json_nested_100k_lists", b"[" * 100_000, j),
        _case("json_nested_100k_objects", b'{"a":' * 100_000, j),
        _case("json_many_keys_under_limit", json_many_keys(MAX_BODY - 100_000), j),
        _case("json_many_keys_over_limit", json_many_keys(MAX_BODY + 100_000), j, [TOO_LARGE]),
        _case("json_invalid_utf8", b'{"image": "\xff\xfe\xfa"}', j),
        _case("json_lone_surrogate", b'{"image": "iVBO\\ud800RK"}', j),
        _case("json_utf16_body", json.dumps({"image": b64(png)}).encode("utf-16"), j, [OK, BAD]),
        _case("json_truncated", json_body({"image": b64(png)})[:-40], j),
        _case("base64_garbage", json_body({"image": f"%%{MARKER}%%" + b64(png)}), j),
        _case("base64_non_ascii", json_body({"image": "iVBORw0KGgo" + "\u00e9" * 10}), j),
        _case("base64_bad_padding", json_body({"image": b64(png)[:-3] + "==="}), j),
        _case("base64_of_html", json_body({"image": b64(HTML)}), j),
        _case("base64_whitespace_everywhere", json_body({"image": " \n\t".join(b64(png))}), j, [OK]),
        _case("base64_decodes_over_limit", json_body({"image": b64(bytes(MAX_BYTES + 1))}), j, [TOO_LARGE]),
        _case("data_url_wrong_type", json_body({"image": f"data:text/html;base64,{b64(HTML)}"}), j, [UNSUPPORTED]),
        _case("data_url_svg", json_body({"image": f"data:image/svg+xml;base64,{b64(SVG)}"}), j, [UNSUPPORTED]),
        _case("data_url_type_is_marker", json_body({"image": f"data:{MARKER}/x;base64,{b64(png)}"}), j, [UNSUPPORTED]),
        _case("data_url_not_base64", json_body({"image": "data:image/png,%89PNG"}), j),
        _case("data_url_no_comma_1mb", json_body({"image": "data:image/png;" + "a" * 1_000_000}), j),
        _case("data_url_100k_params", json_body({"image": "data:image/png" + ";a=b" * 100_000 + ",AAAA"}), j),
        _case("data_url_type_mismatch", json_body({"image": f"data:image/gif;base64,{b64(png)}"}), j, [OK]),
    ]


def feedback_cases() -> list[Case]:
    """POST /api/feedback with forged tokens, odd labels and oversized bodies (no token here was
    signed by the server, so none may be stored), and /api/explain with what /predict refuses."""
    j = "application/json"
    forged = b64(bytes(900)).replace("+", "-").replace("/", "_").rstrip("=") + "." + "A" * 43
    fb = {"path": "/api/feedback"}
    return [
        _case("feedback_forged_token", json_body({"sample": forged, "label": 3}), j, **fb),
        _case("feedback_token_marker", json_body({"sample": f"{MARKER}.{MARKER}", "label": 3}), j, **fb),
        _case("feedback_token_non_ascii", json_body({"sample": "\u00e9\u00e9.\u00e9", "label": 3}), j, **fb),
        _case("feedback_token_object", json_body({"sample": {"id": 1}, "label": 3}), j, **fb),
        _case("feedback_label_huge", b'{"sample": "a.b", "label": ' + b"9" * 40 + b"}", j, **fb),
        _case("feedback_label_1e999", b'{"sample": "a.b", "label": 1e999}', j, **fb),
        _case("feedback_label_string", json_body({"sample": "a.b", "label": "3"}), j, **fb),
        _case("feedback_no_fields", json_body({}), j, **fb),
        _case("feedback_nested_100k", b"[" * 100_000, j, [TOO_LARGE], **fb),
        _case("feedback_nested_4k", b"[" * 4_000, j, **fb),
        _case("feedback_token_100kb", json_body({"sample": "a" * 100_000, "label": 3}), j, [TOO_LARGE], **fb),
        _case(
            "feedback_chunked_100kb",
            lambda: chunked(split(json_body({"sample": "a" * 100_000, "label": 3}), 4096)),
            j,
            [TOO_LARGE],
            headers=CHUNKED,
            **fb,
        ),
        _case("feedback_form_encoded", b"sample=a.b&label=3", "application/x-www-form-urlencoded", [UNSUPPORTED], **fb),
        _case("feedback_png_body", digit_png(), "image/png", [UNSUPPORTED], **fb),
        _case("feedback_get", b"", None, [405], method="GET", **fb),
        _case("explain_svg", SVG, "image/svg+xml", [UNSUPPORTED], path="/api/explain"),
        _case("explain_png_bomb", png_bomb(60_000, 2), "image/png", [TOO_LARGE], path="/api/explain"),
        _case("explain_truncated_png", digit_png()[:200], "image/png", path="/api/explain"),
        _case("explain_unknown_model", digit_png(), "image/png", path=f"/api/explain?model={MARKER}"),
    ]


def token_cases(issued: Issued) -> list[Case]:
    """POST /api/feedback with tokens of real readings: expired, dated ahead, signed under a key the
    server does not have (another, a guessed one, one rotated out), altered; and a fresh real token
    with everything else wrong. None of them may be stored."""
    j = "application/json"
    real = issued.reading
    payload, issued_at, signature = real.split(".")
    changed = signature[:10] + ("B" if signature[10] == "A" else "A") + signature[11:]

    def feedback(name: str, token: object, codes: Iterable[str], label: object = 3, **options) -> Case:
        body = json_body({"sample": token, "label": label})
        return _case(
            f"feedback_{name}", body, j, options.pop("expected", [BAD]), path="/api/feedback", codes=codes, **options
        )

    def real_body(**fields: object) -> bytes:
        return json_body({"sample": real, **fields})

    return [
        feedback("token_expired", issued.expired, ["expired_sample"]),
        feedback("token_expired_previous_key", issued.expired_previous_key, ["expired_sample"]),
        feedback("token_expired_timestamp_refreshed", issued.refreshed, ["invalid_sample"]),
        feedback("token_from_the_future", issued.future, ["invalid_sample"]),
        feedback("token_other_servers_key", issued.other_key, ["invalid_sample"]),
        feedback("token_rotated_out_key", issued.retired_key, ["invalid_sample"]),
        *(
            feedback(f"token_altered_resigned_{name}", token, ["invalid_sample"])
            for name, token in issued.altered.items()
        ),
        feedback("token_altered_signature_kept", issued.altered_signature_kept, ["invalid_sample"]),
        feedback("token_signature_cut_short", real[:-1], ["invalid_sample"]),
        feedback("token_signature_one_char_changed", f"{payload}.{issued_at}.{changed}", ["invalid_sample"]),
        feedback("token_trailing_newline", real + "\n", ["invalid_sample"]),
        feedback("token_is_review_session_cookie", issued.admin.cookie, ["invalid_sample"]),
        # A token the server would take, with a request it must not.
        feedback("real_token_label_10", real, ["invalid_label"], label=10),
        feedback("real_token_label_negative", real, ["invalid_label"], label=-1),
        feedback("real_token_label_true", real, ["invalid_label"], label=True),
        feedback("real_token_label_float", real, ["invalid_label"], label=3.0),
        feedback("real_token_label_string", real, ["invalid_label"], label="3"),
        _case("feedback_real_token_no_label", real_body(), j, path="/api/feedback", codes=["missing_field"]),
        _case(
            "feedback_real_token_as_text",
            real_body(label=3),
            "text/plain",
            [UNSUPPORTED],
            path="/api/feedback",
        ),
        _case(
            "feedback_real_token_form_encoded",
            form(("sample", real), ("label", "3")),
            FORM,
            [UNSUPPORTED],
            path="/api/feedback",
        ),
        _case(
            "feedback_real_token_body_over_limit",
            real_body(label=3, note=MARKER * 500),
            j,
            [TOO_LARGE],
            path="/api/feedback",
        ),
        _case(
            "feedback_real_token_half_close_short",
            real_body(label=3)[:-20],
            j,
            headers={"Content-Length": str(len(real_body(label=3)))},
            half_close=True,
            path="/api/feedback",
        ),
        _case(
            "feedback_real_token_hangup_mid_body",
            real_body(label=3),
            j,
            (),
            hangup_after=len(real_body(label=3)) - 20,
            path="/api/feedback",
        ),
    ]


def form(*fields: tuple[str, str]) -> bytes:
    """An application/x-www-form-urlencoded body, as a browser sends a form."""
    return urlencode(fields).encode("ascii")


CROSS_SITE = {"Origin": EVIL_ORIGIN, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
# Row 1: in tests/test_hostile.py the one sample stored, a person's real reading labelled
# FEEDBACK_LABEL, which must stay pending. A decision names a sample with the label it was shown.
FEEDBACK_LABEL = 4
TARGET = ("ids", f"1:{FEEDBACK_LABEL}")


def _review(
    name: str,
    body: Body = b"",
    expected: Iterable[int] = (FORBIDDEN,),
    codes: Iterable[str] = (),
    *,
    path: str = "/review/decide",
    cookie: str | None = None,
    content_type: str | None = FORM,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    **options,
) -> Case:
    """A request to the review page, with the session cookie ``cookie``; answered as the page."""
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
    if cookie is not None:
        pairs.append(("Cookie", f"{review.COOKIE}={cookie}"))
    options.setdefault("page", True)
    return _case(name, body, content_type, expected, path=path, headers=pairs, codes=codes, **options)


def sign_in_cases(issued: Issued, admin_token: str) -> list[Case]:
    """The admin token guessed, and the right one sent in ways the page does not take. Those that
    pass the same-site and CSRF checks count against the sign-in budget (the others are refused
    before it is counted); tests/test_hostile.py keeps them all within its server's budget."""
    visitor, page = issued.visitor, "/review/sign-in"

    def attempt(name: str, body: bytes, codes: Iterable[str], **options) -> Case:
        options.setdefault("cookie", visitor.cookie)
        return _review(
            f"review_sign_in_{name}", body, options.pop("expected", [FORBIDDEN]), codes, path=page, **options
        )

    def guess(*tokens: str) -> bytes:
        return form(("csrf", visitor.csrf), *(("token", token) for token in tokens))

    return [
        attempt("wrong_token", guess(MARKER), ["sign_in_failed"]),
        attempt("empty_token", guess(""), ["sign_in_failed"]),
        attempt("wrong_then_right_token", guess(MARKER, admin_token), ["sign_in_failed"]),
        attempt("token_11kb", guess(MARKER * 600), ["sign_in_failed"]),
        attempt("token_over_form_limit", guess(MARKER * 1000), ["too_large"], expected=[TOO_LARGE]),
        attempt("non_ascii_token", guess("\u00e9" * 20 + "\u202e\u0000" + MARKER), ["sign_in_failed"]),
        # Not UTF-8: the form cannot be read, so its CSRF token is not there either.
        attempt(
            "raw_invalid_utf8",
            form(("csrf", visitor.csrf)) + b"&token=\xff\xfe" + MARKER.encode(),
            ["sign_in_failed", "csrf_failed"],
        ),
        attempt(
            "right_token_as_json",
            json_body({"csrf": visitor.csrf, "token": admin_token}),
            ["csrf_failed"],
            content_type="application/json",
        ),
        attempt("right_token_no_csrf", form(("token", admin_token)), ["csrf_failed"]),
        attempt("right_token_no_session", guess(admin_token), ["csrf_failed"], cookie=None),
        # Login CSRF: another site signing the browser in.
        attempt("right_token_cross_site", guess(admin_token), ["csrf_failed"], headers=CROSS_SITE),
    ]


def review_cases(issued: Issued) -> list[Case]:
    """Decisions forged from another site (with the admin's cookie, as the browser would attach it,
    a forged one, or none), without or with the wrong CSRF token, with sessions that are not the
    admin's, oversized, or asking what the page does not offer; filters of the gallery it does not
    offer; wrong methods. None may change a sample."""
    admin, visitor, forged = issued.admin, issued.visitor, issued.forged
    unsigned = base64.urlsafe_b64encode(json.dumps({"admin": "0" * 64, "csrf": MARKER}).encode()).decode().rstrip("=")

    def decide(*fields: tuple[str, str], csrf: str | None = admin.csrf, decision: str = "approve") -> bytes:
        extra = () if csrf is None else (("csrf", csrf),)
        return form(*fields, ("decision", decision), *extra)

    def as_admin(name: str, body: Body, codes: Iterable[str], expected: Iterable[int] = (FORBIDDEN,), **options):
        return _review(f"review_{name}", body, expected, codes, cookie=admin.cookie, **options)

    many = [("ids", str(k)) for k in range(1, 2001)]
    return [
        # From another site: the browser says so (Origin, Sec-Fetch-Site), whatever cookie it carries.
        as_admin("decide_cross_site_origin", decide(TARGET), ["csrf_failed"], headers={"Origin": EVIL_ORIGIN}),
        as_admin("decide_cross_site_fetch", decide(TARGET), ["csrf_failed"], headers={"Sec-Fetch-Site": "cross-site"}),
        as_admin("decide_cross_site_reject", decide(TARGET, decision="reject"), ["csrf_failed"], headers=CROSS_SITE),
        as_admin(
            "decide_same_site_subdomain",
            decide(TARGET),
            ["csrf_failed"],
            headers={"Origin": "http://evil.localhost", "Sec-Fetch-Site": "same-site"},
        ),
        as_admin("decide_origin_null", decide(TARGET), ["csrf_failed"], headers={"Origin": "null"}),
        as_admin("decide_origin_other_port", decide(TARGET), ["csrf_failed"], headers={"Origin": "http://127.0.0.1:1"}),
        as_admin(
            "sign_out_cross_site",
            form(("csrf", admin.csrf)),
            ["csrf_failed"],
            path="/review/sign-out",
            headers=CROSS_SITE,
        ),
        _review(
            "review_decide_cross_site_forged_cookie",
            decide(TARGET, csrf=forged.csrf),
            codes=["csrf_failed"],
            cookie=forged.cookie,
            headers=CROSS_SITE,
        ),
        _review(
            "review_decide_cross_site_no_cookie", decide(TARGET, csrf=MARKER), codes=["csrf_failed"], headers=CROSS_SITE
        ),
        # From this site, but not the admin's session.
        _review(
            "review_decide_forged_cookie", decide(TARGET, csrf=forged.csrf), codes=["signed_out"], cookie=forged.cookie
        ),
        _review("review_decide_unsigned_cookie", decide(TARGET, csrf=MARKER), codes=["signed_out"], cookie=unsigned),
        _review(
            "review_decide_sample_token_as_cookie",
            decide(TARGET, csrf=MARKER),
            codes=["signed_out"],
            cookie=issued.reading,
        ),
        _review(
            "review_decide_visitor_session",
            decide(TARGET, csrf=visitor.csrf),
            codes=["signed_out"],
            cookie=visitor.cookie,
        ),
        _review("review_decide_no_cookie", decide(TARGET, csrf=visitor.csrf), codes=["signed_out"]),
        # The admin's session, without the page's CSRF token.
        as_admin("decide_no_csrf", decide(TARGET, csrf=None), ["csrf_failed"]),
        as_admin("decide_wrong_csrf", decide(TARGET, csrf=MARKER), ["csrf_failed"]),
        as_admin("decide_csrf_of_the_visitor", decide(TARGET, csrf=visitor.csrf), ["csrf_failed"]),
        as_admin(
            "decide_csrf_in_query", decide(TARGET, csrf=None), ["csrf_failed"], path=f"/review/decide?csrf={admin.csrf}"
        ),
        as_admin(
            "decide_as_json",
            json_body({"ids": [1], "decision": "approve", "csrf": admin.csrf}),
            ["csrf_failed"],
            content_type="application/json",
        ),
        # Oversized: more ids than a page, a form over the page's limit, framed or not.
        as_admin("decide_49_ids", decide(*many[:49]), ["too_many_ids"], [BAD]),
        as_admin("decide_2000_ids", decide(*many), ["too_many_ids", "too_large"], [BAD, TOO_LARGE]),
        as_admin(
            "decide_multipart_2000_ids",
            multipart([(k, None, None, v.encode()) for k, v in [*many, ("decision", "approve"), ("csrf", admin.csrf)]]),
            ["too_many_ids", "too_large"],
            [BAD, TOO_LARGE],
            content_type=MULTIPART,
        ),
        as_admin("decide_form_over_limit", decide(TARGET, ("note", MARKER * 1000)), ["too_large"], [TOO_LARGE]),
        as_admin(
            "decide_chunked_over_limit",
            lambda: chunked(split(decide(TARGET, ("note", MARKER * 5000)), 4096)),
            ["too_large"],
            [TOO_LARGE],
            headers=CHUNKED,
        ),
        as_admin(
            "decide_content_length_huge", b"", ["too_large"], [TOO_LARGE], headers={"Content-Length": str(10**12)}
        ),
        # Decisions the page does not offer.
        as_admin("decide_id_marker", decide(("ids", MARKER)), ["invalid_review"], [BAD]),
        as_admin("decide_id_2_to_the_63", decide(("ids", str(2**63))), ["invalid_review"], [BAD]),
        as_admin("decide_id_negative", decide(("ids", "-1")), ["invalid_review"], [BAD]),
        as_admin("decide_id_fullwidth_digit", decide(("ids", "\uff11")), ["invalid_review"], [BAD]),
        as_admin("decide_no_ids", decide(), ["invalid_review"], [BAD]),
        as_admin("decide_decision_marker", decide(TARGET, decision=MARKER), ["invalid_review"], [BAD]),
        as_admin("decide_decision_is_a_status", decide(TARGET, decision="approved"), ["invalid_review"], [BAD]),
        as_admin("decide_status_filter_marker", decide(TARGET, ("status", MARKER)), ["invalid_review"], [BAD]),
        as_admin(
            "gallery_status_marker",
            b"",
            ["invalid_review"],
            [BAD],
            method="GET",
            path=f"/review?status={MARKER}",
            content_type=None,
        ),
        as_admin(
            "gallery_page_huge",
            b"",
            ["invalid_review"],
            [BAD],
            method="GET",
            path="/review?page=9999999999",
            content_type=None,
        ),
        as_admin(
            "gallery_order_script",
            b"",
            ["invalid_review"],
            [BAD],
            method="GET",
            path=f"/review?order=%3Cscript%3E{MARKER}",
            content_type=None,
        ),
        # Routing answers these before the review page does: the app's JSON errors.
        _review(
            "review_unknown_path", expected=[404], method="GET", path=f"/review/{MARKER}", content_type=None, page=False
        ),
        _review("review_get_decide", expected=[405], method="GET", content_type=None, page=False),
        _review("review_put_page", form(TARGET), [405], method="PUT", path="/review", page=False),
        _review(
            "review_get_sign_out", expected=[405], method="GET", path="/review/sign-out", content_type=None, page=False
        ),
        _review(
            "review_delete_sign_in",
            expected=[405],
            method="DELETE",
            path="/review/sign-in",
            content_type=None,
            page=False,
        ),
    ]


def multipart_cases() -> list[Case]:
    png = digit_png()
    return [
        _case("multipart_no_file", multipart([("note", None, None, MARKER.encode())]), MULTIPART),
        _case("multipart_wrong_field_name", multipart([("file", "d.png", "image/png", png)]), MULTIPART),
        _case("multipart_image_as_text_field", multipart([("image", None, None, png)]), MULTIPART),
        _case(
            "multipart_two_files",
            multipart([("image", "a.png", "image/png", png), ("image", "b.png", "image/png", png)]),
            MULTIPART,
        ),
        _case(
            "multipart_html_file", multipart([("image", f"{MARKER}.html", "text/html", HTML)]), MULTIPART, [UNSUPPORTED]
        ),
        _case(
            "multipart_svg_file_octet_stream",
            multipart([("image", "x.svg", "application/octet-stream", SVG)]),
            MULTIPART,
        ),
        _case(
            "multipart_traversal_filename",
            multipart([("image", f"../../etc/{MARKER}", "image/png", png)]),
            MULTIPART,
            [OK],
        ),
        _case("multipart_no_boundary", multipart([("image", "d.png", "image/png", png)]), "multipart/form-data"),
        _case(
            "multipart_wrong_boundary",
            multipart([("image", "d.png", "image/png", png)]),
            "multipart/form-data; boundary=other",
        ),
        _case("multipart_unterminated", multipart([("image", "d.png", "image/png", png)])[:-40], MULTIPART, [OK, BAD]),
        _case("multipart_garbage", b"--hostileBoundary\r\n\x00\xff" * 1000, MULTIPART),
        _case(
            "multipart_5000_fields",
            multipart([*((f"f{i}", None, None, b"x") for i in range(5000)), ("image", "d.png", "image/png", png)]),
            MULTIPART,
            [BAD, TOO_LARGE],
        ),
        _case(
            "multipart_file_over_image_limit",
            multipart([("image", "big.png", "image/png", bytes(MAX_BYTES + 100_000))]),
            MULTIPART,
            [TOO_LARGE],
        ),
    ]


def header_cases() -> list[Case]:
    """Wrong, missing and odd content types, methods and paths."""
    png = digit_png()
    return [
        _case("no_content_type", png, None, [UNSUPPORTED]),
        _case("content_type_text_plain", png, "text/plain", [UNSUPPORTED]),
        _case(
            "content_type_form_urlencoded",
            f"image={b64(png)}".encode(),
            "application/x-www-form-urlencoded",
            [UNSUPPORTED],
        ),
        _case("content_type_uppercase", png, "IMAGE/PNG", [OK]),
        _case("content_type_with_parameters", png, "image/png; charset=utf-8; x=y", [OK]),
        _case("content_type_garbage", png, ";;;===/,,", [UNSUPPORTED]),
        _case("content_type_control_chars", png, "image/png\x01", [BAD], app=False),
        _case("content_type_json_for_png", png, "application/json"),
        _case("unknown_model_marker", png, path=f"/predict?model={MARKER}"),
        _case("model_path_traversal", png, path="/predict?model=../../../etc/passwd"),
        _case("model_given_twice", png, path="/predict?model=seed&model=nope", expected=[OK]),
        _case("get_predict", content_type=None, method="GET", expected=[405]),
        _case("put_predict", png, method="PUT", expected=[405]),
        _case("delete_healthz", content_type=None, method="DELETE", path="/healthz", expected=[405]),
        _case("options_predict", content_type=None, method="OPTIONS", expected=[OK]),
        _case(
            "static_path_traversal",
            content_type=None,
            method="GET",
            path="/static/..%2f..%2fapp/api.py",
            expected=[404],
        ),
        _case(
            "static_dotdot_traversal", content_type=None, method="GET", path="/static/../../etc/passwd", expected=[404]
        ),
        _case("content_length_huge_no_body", b"", headers={"Content-Length": str(10**12)}, expected=[TOO_LARGE]),
    ]


def transport_cases() -> list[Case]:
    """Bodies that are huge, chunked, slow, cut off, or framed ambiguously."""
    png = digit_png()
    return [
        _case(
            "body_50mb_raw",
            zeros_stream(50 * 1024 * 1024),
            headers={"Content-Length": str(50 * 1024 * 1024)},
            expected=[TOO_LARGE],
        ),
        _case(
            "body_50mb_multipart",
            zeros_stream(50 * 1024 * 1024),
            MULTIPART,
            [TOO_LARGE],
            headers={"Content-Length": str(50 * 1024 * 1024)},
        ),
        _case("chunked_png", lambda: chunked(split(png, 100)), headers=CHUNKED, expected=[OK]),
        _case(
            "chunked_50mb",
            lambda: chunked(zeros_stream(50 * 1024 * 1024)()),
            headers=CHUNKED,
            expected=[TOO_LARGE],
        ),
        # A chunked body has no Content-Length, so the limit applies while it is read.
        _case(
            "chunked_json_over_limit",
            lambda: chunked(split(json_body({"image": b64(bytes(MAX_BODY))}), 64 * 1024)),
            "application/json",
            [TOO_LARGE],
            headers=CHUNKED,
        ),
        _case(
            "chunked_multipart_over_limit",
            lambda: chunked(split(multipart([("image", "big.png", "image/png", bytes(MAX_BODY))]), 64 * 1024)),
            MULTIPART,
            [TOO_LARGE],
            headers=CHUNKED,
        ),
        # Broken chunked framing, which gunicorn finds only when the app reads the body.
        _case("chunked_bad_chunk_size", b"5\r\nhello\r\nzz\r\n", headers=CHUNKED),
        _case("chunked_bad_chunk_size_json", b'5\r\n{"ima\r\nzz\r\n', "application/json", headers=CHUNKED),
        _case("chunked_bad_chunk_size_multipart", b"13\r\n--hostileBoundary\r\n\r\nzz\r\n", MULTIPART, headers=CHUNKED),
        _case("chunked_missing_terminator", b"5\r\nhelloXX0\r\n\r\n", headers=CHUNKED),
        _case("chunked_bad_extension", b"5;a=\x01\r\nhello\r\n0\r\n\r\n", headers=CHUNKED),
        _case("chunked_cut_off_mid_chunk", b"400\r\n" + png[:100], headers=CHUNKED, half_close=True),
        _case("chunked_20_digit_size", b"f" * 20 + b"\r\nab", headers=CHUNKED, half_close=True),
        _case("transfer_encoding_gzip", png, headers={"Transfer-Encoding": "gzip"}, expected=[BAD, 501], app=False),
        _case("expect_100_continue", png, headers={"Expect": "100-continue"}, expected=[OK]),
        _case("slow_body_png", png, pace=Pace(piece=max(1, len(png) // 40), delay=0.06), expected=[OK]),
        _case("slow_head_and_body", png, pace=Pace(piece=40, delay=0.04, head=True), expected=[OK]),
        _case(
            "hangup_mid_body",
            png,
            headers={"Content-Length": str(len(png) * 10)},
            hangup_after=len(png) // 2,
            expected=(),
        ),
        _case("hangup_after_headers", png, hangup_after=0, expected=()),
        # Bodies shorter than their Content-Length, the client done sending.
        _case("half_close_truncated_image", png[:300], headers={"Content-Length": str(len(png))}, half_close=True),
        _case(
            "half_close_whole_image_short_of_length",
            png,
            headers={"Content-Length": str(len(png) + 5000)},
            half_close=True,
            expected=[OK, BAD],
        ),
        # Framing that could smuggle a second request past a proxy: gunicorn refuses these itself.
        _case(
            "content_length_and_chunked",
            b"0\r\n\r\n",
            headers=[("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
            expected=[BAD],
            app=False,
        ),
        _case(
            "two_content_lengths",
            png,
            headers=[("Content-Length", str(len(png))), ("Content-Length", "5")],
            expected=[BAD],
            app=False,
        ),
        _case("negative_content_length", png, headers={"Content-Length": "-1"}, expected=[BAD], app=False),
        _case("header_10kb", png, headers={"X-Junk": "a" * 10_000}, expected=[BAD, 431], app=False),
    ]


def slow_cases(issued: Issued) -> list[Case]:
    """Clients too slow to be served, and header floods: each is cut off by a limit (the server's
    DIGITS_REQUEST_TIMEOUT and gunicorn's keepalive and header limits; a trickle here would take
    far longer than any of them)."""
    png = digit_png()
    visitor = ("Cookie", f"{review.COOKIE}={issued.visitor.cookie}")
    return [
        # A real token and a label a byte every half second: 408 at the deadline, nothing stored.
        _case(
            "feedback_slow_body_past_deadline",
            json_body({"sample": issued.reading, "label": 3}),
            "application/json",
            [TIMEOUT],
            path="/api/feedback",
            pace=Pace(piece=1, delay=0.5),
        ),
        _review(
            "review_sign_in_slow_body_past_deadline",
            form(("csrf", issued.visitor.csrf), ("token", MARKER * 10)),
            [TIMEOUT],
            ["request_timeout"],
            path="/review/sign-in",
            cookie=issued.visitor.cookie,
            pace=Pace(piece=1, delay=0.5),
        ),
        _review(
            "review_header_flood_90_fields_of_8kb",
            expected=[OK],
            method="GET",
            path="/review",
            content_type=None,
            headers=[(f"X-Flood-{i}", "a" * 8000) for i in range(90)],
        ),
        _review(
            "review_header_flood_1000_fields",
            expected=[BAD, 431],
            method="GET",
            path="/review",
            content_type=None,
            headers=[visitor, *((f"X-Flood-{i}", "x") for i in range(1000))],
            app=False,
            page=False,
        ),
        _review(
            "review_cookie_8kb_of_garbage",
            expected=[OK],
            method="GET",
            path="/review",
            content_type=None,
            headers=[("Cookie", f"{review.COOKIE}={MARKER * 420}")],
        ),
        # A byte every half second of a declared 10 kB body: 408 at the body deadline, then closed.
        _case("slow_body_past_deadline", b"\x89" * 10_240, pace=Pace(piece=1, delay=0.5), expected=[TIMEOUT]),
        # Headers a byte every half second: closed without an answer once gunicorn's keepalive is up.
        _case("slow_headers_past_deadline", png, pace=Pace(piece=1, delay=0.5, head=True), expected=()),
        _case(
            "slow_multipart_past_deadline",
            multipart([("image", "d.png", "image/png", b"\x89" * 10_240)]),
            MULTIPART,
            [TIMEOUT],
            pace=Pace(piece=1, delay=0.5),
        ),
        # Over gunicorn's 100 fields: refused by gunicorn itself.
        _case(
            "header_flood_1000_fields",
            png,
            headers=[(f"X-Flood-{i}", "x") for i in range(1000)],
            expected=[BAD, 431],
            app=False,
        ),
        # Within gunicorn's limits (at most 100 fields of at most 8,190 bytes): read as usual.
        _case(
            "header_flood_90_fields_of_8kb",
            png,
            headers=[(f"X-Flood-{i}", "a" * 8000) for i in range(90)],
            expected=[OK],
        ),
    ]


def corpus(
    secret_keys: Sequence[str] = SECRET_KEYS, admin_token: str = ADMIN_TOKEN, sample_max_age: int = SAMPLE_MAX_AGE
) -> list[Case]:
    """Every case, each name once, the tokens and sessions for a server with these settings
    (``server_env``; ``sample_max_age`` is its DIGITS_SAMPLE_MAX_AGE)."""
    issued = issue(tuple(secret_keys), admin_token, sample_max_age)
    cases = image_cases() + format_cases() + json_cases() + feedback_cases() + token_cases(issued)
    cases += multipart_cases() + header_cases() + transport_cases() + read_cases()
    cases += sign_in_cases(issued, admin_token) + review_cases(issued) + slow_cases(issued)
    names = [c.name for c in cases]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate case names: {sorted(duplicates)}")
    return cases


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python scripts/hostile_corpus.py OUTDIR", file=sys.stderr)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    (out / "server.env").write_text("".join(f"{name}={value}\n" for name, value in server_env().items()))
    index = []
    for case in corpus():
        size = 0
        with open(out / f"{case.name}.http", "wb") as f:
            f.write(case.head())
            for piece in case.pieces():
                f.write(piece)
                size += len(piece)
        index.append(
            {
                "name": case.name,
                "file": f"{case.name}.http",
                "method": case.method,
                "path": case.path,
                "headers": [list(h) for h in case.headers],
                "body_bytes": size,
                "expected": sorted(case.expected),
                "pace": None if case.pace is None else vars(case.pace),
                "hangup_after": case.hangup_after,
                "half_close": case.half_close,
                "answered_by_app": case.app,
                "codes": sorted(case.codes),
                "answered_as_review_page": case.page,
            }
        )
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"{len(index)} cases written to {out}, for a server with the settings in {out / 'server.env'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
