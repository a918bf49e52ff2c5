"""Tests for model.preprocess: any uploaded picture of a digit -> MNIST's 28x28 input."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from model import preprocess as pp
from model.data import Dataset, load_mnist_split
from model.network import Network
from model.shape import PIXELS, SIDE
from tests.support.canvas import SCALE, pen_mark, render_like_canvas

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "model" / "digits.npz"

# Polylines of a few digit-like shapes, in units of the drawing's side.
SHAPES = {
    "7": [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)],
    "4": [(0.6, 0.85), (0.6, 0.15), (0.2, 0.6), (0.8, 0.6)],
    "1": [(0.5, 0.15), (0.5, 0.85)],
}


def draw(
    shape: str = "7", size: int = 200, stroke: int = 14, at: tuple[int, int] = (0, 0), canvas: int = 0
) -> np.ndarray:
    """A light-on-black (uint8) digit-like drawing ``size`` px across, its top-left at ``at``
    on a ``canvas`` x ``canvas`` field (default: just the drawing)."""
    field = Image.new("L", (canvas or size, canvas or size), 0)
    points = [(at[0] + x * size, at[1] + y * size) for x, y in SHAPES[shape]]
    ImageDraw.Draw(field).line(points, fill=255, width=stroke, joint="curve")
    return np.asarray(field)


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    total = a.sum()
    return float(a.sum(axis=1) @ np.arange(a.shape[0]) / total), float(a.sum(axis=0) @ np.arange(a.shape[1]) / total)


def ink_box(a: np.ndarray, threshold: float = 0.25) -> tuple[int, int]:
    """(height, width) of the box of the pixels at least ``threshold`` of the maximum."""
    strong = a >= threshold * a.max()
    rows, cols = np.flatnonzero(strong.any(axis=1)), np.flatnonzero(strong.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def check_output(out: np.ndarray) -> None:
    assert out.shape == (28, 28)
    assert out.dtype == np.float32
    assert out.min() >= 0.0
    assert out.max() == pytest.approx(1.0)


LIGHT = draw("7", canvas=300, at=(60, 40))  # light ink on black, off-centre
DARK = 255 - LIGHT  # dark ink on white
REFERENCE = pp.to_mnist(Image.fromarray(LIGHT))


def canvas_rgba(light: np.ndarray, colour: tuple[int, int, int]) -> Image.Image:
    """A transparent canvas (0, 0, 0, 0) with strokes of ``colour`` whose alpha is the ink."""
    rgba = np.zeros((*light.shape, 4), dtype=np.uint8)
    rgba[light > 0, :3] = colour
    rgba[..., 3] = light
    return Image.fromarray(rgba, mode="RGBA")


def palette_with_transparency(light: np.ndarray) -> Image.Image:
    """Mode P: index 0, (0, 0, 0), transparent background; index 1 black ink."""
    image = Image.fromarray((light > 127).astype(np.uint8), mode="P")
    image.putpalette([0, 0, 0, 0, 0, 0])
    image.info["transparency"] = 0
    return image


# name -> (encoded bytes, the mode Pillow should read them back as)
MODES: dict[str, Callable[[], tuple[bytes, str]]] = {
    "1": lambda: (encode(Image.fromarray(DARK).convert("1")), "1"),
    "L": lambda: (encode(Image.fromarray(DARK)), "L"),
    "LA": lambda: (encode(Image.fromarray(np.stack([np.zeros_like(LIGHT), LIGHT], axis=-1), mode="LA")), "LA"),
    "P": lambda: (encode(Image.fromarray(DARK).convert("RGB").convert("P")), "P"),
    "P with transparency": lambda: (encode(palette_with_transparency(LIGHT), transparency=0), "P"),
    # Blue ink on yellow paper: luminance makes it dark on light.
    "RGB": lambda: (
        encode(Image.fromarray(np.where(LIGHT[..., None] > 127, [20, 30, 200], [250, 230, 40]).astype(np.uint8))),
        "RGB",
    ),
    "RGBA": lambda: (encode(canvas_rgba(LIGHT, (30, 30, 30))), "RGBA"),
    "CMYK (JPEG)": lambda: (encode(Image.fromarray(DARK).convert("CMYK"), "JPEG", quality=95), "CMYK"),
    "I;16 (16-bit PNG)": lambda: (encode(Image.fromarray(DARK.astype(np.uint16) * 257)), "I;16"),
}


@pytest.mark.parametrize("name", MODES)
def test_every_mode_gives_the_same_mnist_image(name: str) -> None:
    data, mode = MODES[name]()
    assert pp.load_image(data).mode == mode
    out = pp.preprocess(data)
    check_output(out)
    assert corr(out, REFERENCE) > 0.95


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("JPEG", {"quality": 85}), ("GIF", {}), ("BMP", {}), ("WEBP", {"quality": 80})],
)
def test_every_accepted_format(fmt: str, options: dict) -> None:
    data = encode(Image.fromarray(DARK), fmt, **options)
    assert pp.load_image(data).format == fmt
    out = pp.preprocess(data)
    check_output(out)
    assert corr(out, REFERENCE) > 0.95


def test_animated_gif_uses_the_first_frame() -> None:
    seven, one = Image.fromarray(DARK), Image.fromarray(255 - draw("1", canvas=300, at=(60, 40)))
    data = encode(seven, "GIF", save_all=True, append_images=[one], duration=100, loop=0)
    assert pp.load_image(data).format == "GIF"
    assert Image.open(io.BytesIO(data)).n_frames == 2
    out = pp.preprocess(data)
    assert corr(out, REFERENCE) > 0.95
    assert corr(out, pp.to_mnist(one)) < 0.8


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize(
    ("orientation", "stored_as"),
    # How the pixels are stored so that a viewer applying the tag shows the upright digit.
    [(3, Image.Transpose.ROTATE_180), (6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)],
)
def test_exif_orientation_is_applied(fmt: str, orientation: int, stored_as: Image.Transpose) -> None:
    stored = Image.fromarray(DARK).transpose(stored_as)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored, fmt, exif=exif)
    upright = pp.to_mnist(Image.fromarray(DARK))
    assert corr(pp.to_mnist(stored), upright) < 0.9  # the tag matters for this digit
    assert corr(pp.preprocess(data), upright) > 0.95


# -- polarity and transparency ----------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_light_on_dark_and_dark_on_light_agree(shape: str) -> None:
    light = draw(shape, size=250, canvas=320, at=(50, 20))
    a = pp.preprocess(encode(Image.fromarray(light)))
    b = pp.preprocess(encode(Image.fromarray(255 - light)))
    check_output(a)
    assert corr(a, b) > 0.95


@pytest.mark.parametrize("colour", [(0, 0, 0), (40, 40, 60), (255, 255, 255), (250, 220, 40)], ids=str)
def test_transparent_canvas_with_dark_or_light_ink(colour: tuple[int, int, int]) -> None:
    out = pp.preprocess(encode(canvas_rgba(LIGHT, colour)))
    check_output(out)
    assert corr(out, REFERENCE) > 0.95


def test_mostly_opaque_image_with_a_transparent_margin() -> None:
    """Dark ink on opaque white paper, with a transparent frame around the paper."""
    rgba = np.zeros((*DARK.shape, 4), dtype=np.uint8)
    rgba[..., :3] = DARK[..., None]
    rgba[10:-10, 10:-10, 3] = 255
    out = pp.preprocess(encode(Image.fromarray(rgba, mode="RGBA")))
    assert corr(out, REFERENCE) > 0.95


@pytest.mark.parametrize(("low", "high"), [(0, 255), (0, 65535), (-1000, 3000)])
def test_integer_images_are_scaled_by_their_range(low: int, high: int) -> None:
    values = (low + LIGHT.astype(np.int32) * (high - low) // 255).astype(np.int32)
    out = pp.to_mnist(Image.fromarray(values, mode="I"))
    check_output(out)
    assert corr(out, REFERENCE) > 0.95


def test_a_dark_16_bit_image_is_not_taken_for_8_bit() -> None:
    """Ink at 200/65535 on black is 0.3% contrast: too faint, not a full-contrast 8-bit digit."""
    data = encode(Image.fromarray((LIGHT.astype(np.uint16) * 200) // 255))
    assert pp.load_image(data).mode == "I;16"
    with pytest.raises(pp.NoDigitFound, match="blank"):
        pp.preprocess(data)


def test_float_image() -> None:
    out = pp.to_mnist(Image.fromarray(LIGHT.astype(np.float32) / 255, mode="F"))
    assert corr(out, REFERENCE) > 0.99


def test_large_image_is_shrunk_first() -> None:
    big = draw("4", size=2400, stroke=160, canvas=3000, at=(300, 200))
    out = pp.to_mnist(Image.fromarray(big))
    small = pp.to_mnist(Image.fromarray(draw("4", size=240, stroke=16, canvas=300, at=(30, 20))))
    check_output(out)
    assert corr(out, small) > 0.98


# -- geometry ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "size", "at", "canvas"),
    [("7", 200, (0, 0), 200), ("4", 120, (250, 10), 400), ("1", 300, (20, 80), 400), ("7", 30, (3, 5), 40)],
)
def test_centre_of_mass_is_mnists(shape: str, size: int, at: tuple[int, int], canvas: int) -> None:
    out = pp.preprocess(encode(Image.fromarray(draw(shape, size=size, at=at, canvas=canvas))))
    r, c = centre_of_mass(out)
    assert abs(r - pp.TARGET_CENTRE[0]) < 0.2
    assert abs(c - pp.TARGET_CENTRE[1]) < 0.2
    assert abs(r - 14) < 0.1 and abs(c - 14) < 0.1  # MNIST's measured centre


@pytest.mark.parametrize(("width", "height"), [(300, 100), (100, 300), (200, 200), (40, 30)])
def test_longest_side_of_the_ink_is_20_pixels(width: int, height: int) -> None:
    field = Image.new("L", (400, 400), 255)
    ImageDraw.Draw(field).rectangle((50, 60, 50 + width - 1, 60 + height - 1), outline=0, width=max(3, width // 15))
    out = pp.preprocess(encode(field))
    h, w = ink_box(out)
    assert max(h, w) in (20, 21)
    assert min(h, w) == pytest.approx(20 * min(width, height) / max(width, height), abs=1.5)


def test_a_thin_stroke_stays_thin() -> None:
    field = Image.new("L", (400, 400), 255)
    ImageDraw.Draw(field).rectangle((200, 50, 205, 349), fill=0)  # 6 px wide, 300 px tall
    out = pp.preprocess(encode(field))
    h, w = ink_box(out)
    assert h in (20, 21)
    assert w <= 2
    assert out.sum(axis=0).max() > 0.8 * out.sum()  # nearly all the ink in one or two columns


@pytest.mark.parametrize("shift", [1, 2, 3])
def test_sub_pixel_centring(shift: int) -> None:
    """A digit moved by shift/4 of a pixel gives the same centre of mass to within 0.1 px."""

    def render(offset: int) -> np.ndarray:
        fine = Image.fromarray(draw("7", size=88, stroke=10, canvas=160, at=(30 + offset, 34 + offset)))
        return pp.preprocess(encode(fine.resize((40, 40), Image.Resampling.BOX)))

    a, b = centre_of_mass(render(0)), centre_of_mass(render(shift))
    assert abs(a[0] - b[0]) < 0.1
    assert abs(a[1] - b[1]) < 0.1


@pytest.mark.parametrize(
    "specks",
    [
        [((10, 10), 3, 30), ((380, 15), 2, 40), ((15, 385), 4, 35), ((390, 390), 1, 50)],  # faint
        [((x, 385), 6, 45) for x in range(20, 380, 12)],  # a faint smudge along the bottom
        [((385, 385), 3, 255)],  # small and strong, far from the digit
        [((10, 200), 2, 255), ((200, 392), 2, 255)],  # level with the digit on one axis
    ],
    ids=["faint", "faint smudge", "strong corner", "strong level"],
)
def test_specks_far_from_the_digit_are_ignored(specks: list[tuple[tuple[int, int], int, int]]) -> None:
    clean = draw("4", size=240, canvas=400, at=(80, 70))
    speckled = clean.copy()
    for (x, y), radius, level in specks:
        speckled[y - radius : y + radius + 1, x - radius : x + radius + 1] = level
    a = pp.preprocess(encode(Image.fromarray(255 - clean)))
    b = pp.preprocess(encode(Image.fromarray(255 - speckled)))
    assert ink_box(b) == ink_box(a)
    assert corr(a, b) > 0.99


# -- no digit ---------------------------------------------------------------------------------


def dot(size: int) -> Image.Image:
    field = Image.new("L", (400, 400), 255)
    ImageDraw.Draw(field).ellipse((200, 200, 200 + size, 200 + size), fill=0)
    return field


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (400, 400), 255),
        Image.new("RGBA", (400, 400), (0, 0, 0, 0)),
        Image.new("L", (400, 400), 0),
        Image.new("RGB", (300, 200), (128, 128, 128)),
        dot(4),
        Image.fromarray((250 - LIGHT // 20).astype(np.uint8)),  # ink 5% darker than the paper
        Image.new("L", (1, 1), 0),
    ],
    ids=["blank white", "blank transparent", "blank black", "uniform grey", "tiny dot", "too faint", "one pixel"],
)
def test_no_digit_found(image: Image.Image) -> None:
    with pytest.raises(pp.NoDigitFound, match=r"^no digit found: "):
        pp.preprocess(encode(image))


def small_zero() -> Image.Image:
    """A 0 of 30x40 pixels, drawn with a 4 px pen, on a 400x400 canvas."""
    field = Image.new("L", (400, 400), 255)
    ImageDraw.Draw(field).ellipse((200, 200, 230, 240), outline=0, width=4)
    return field


def test_a_small_but_real_digit_is_found() -> None:
    check_output(pp.preprocess(encode(small_zero())))


# -- a tap or a short dash is not a digit ------------------------------------------------------

CANVASES = [200, 280, 400, 1000]
PENS = {"the page's pen": 1 / 13, "a thinner pen": 1 / 30, "a 4 px pen": None}  # share of the canvas


def pen_width(canvas: int, pen: str) -> float:
    share = PENS[pen]
    return canvas * share if share else 4.0


@pytest.mark.parametrize("form", ["dark on white", "transparent"])
@pytest.mark.parametrize("pen", PENS)
@pytest.mark.parametrize("canvas", CANVASES)
@pytest.mark.parametrize("length", [0, 0.25, 0.5], ids=["tap", "dash 1.25 pens long", "dash 1.5 pens long"])
def test_a_tap_or_a_short_dash_is_not_a_digit(canvas: int, pen: str, length: float, form: str) -> None:
    """A mark shorter than about two widths of its pen, end to end, at any size of canvas or pen."""
    width = pen_width(canvas, pen)
    mark = pen_mark(canvas, width, length * width, angle=0.6 * length, transparent=form == "transparent")
    with pytest.raises(pp.NoDigitFound, match=r"^no digit found: the ink looks like a dot or a dash"):
        pp.preprocess(mark)


@pytest.mark.parametrize("form", ["dark on white", "transparent"])
@pytest.mark.parametrize("pen", ["the page's pen", "a thinner pen"])
@pytest.mark.parametrize("canvas", CANVASES)
def test_a_stroke_three_pens_long_is_read(canvas: int, pen: str, form: str) -> None:
    """The other side of the line: a short upright stroke, a 1, three widths of its pen long."""
    width = pen_width(canvas, pen)
    check_output(pp.preprocess(pen_mark(canvas, width, 2 * width, angle=1.4, transparent=form == "transparent")))


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        # A disc: as long as it is wide.
        (lambda: np.hypot(*np.mgrid[-50:51, -50:51]) <= 40.5, (81, 81)),
        # A bar 200 px long and 20 px wide.
        (lambda: np.ones((20, 200)), (200, 20)),
        # The same bar at 45 degrees: as long, as wide (a bounding box or an edge-pixel count would not say so).
        (lambda: np.abs(np.subtract(*np.mgrid[0:150, 0:150])) < 10 * np.sqrt(2), (212, 20)),
        # A ring 120 px across drawn with a 10 px pen: its pen, not its size.
        (lambda: np.abs(np.hypot(*np.mgrid[-60:61, -60:61]) - 55) < 5, (121, 10)),
    ],
    ids=["disc", "bar", "diagonal bar", "ring"],
)
def test_stroke_shape_measures_length_and_pen(shape: Callable[[], np.ndarray], expected: tuple[int, int]) -> None:
    length, width = pp.stroke_shape(shape().astype(np.float32))
    assert length == pytest.approx(expected[0], rel=0.05)
    assert width == pytest.approx(expected[1], rel=0.1)


def test_stroke_shape_of_no_ink_is_nothing() -> None:
    assert pp.stroke_shape(np.zeros((5, 7), dtype=np.float32)) == (0.0, 0.0)


def test_a_blot_where_strokes_meet_does_not_widen_the_pen() -> None:
    """A bold 9: a filled loop 60 px across on a stem 16 px wide and 160 px long. The widest disc in
    the ink is the loop's; the pen is much thinner, so the mark is a digit, not a dash."""
    field = Image.new("L", (120, 200), 0)
    draw_on = ImageDraw.Draw(field)
    draw_on.ellipse((20, 10, 80, 70), fill=255)
    draw_on.line([(78, 40), (70, 190)], fill=255, width=16)
    length, width = pp.stroke_shape(np.asarray(field, dtype=np.float32))
    assert width < 40  # the loop alone is 60
    assert length >= pp.MIN_LENGTH_IN_WIDTHS * width + 50


# -- too large --------------------------------------------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A valid 1-bit PNG claiming ``width`` x ``height`` pixels, with a tiny IDAT of one row."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = zlib.compress(b"\x00" * (1 + (width + 7) // 8))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


def gif_header_only(width: int, height: int) -> bytes:
    """A GIF whose logical screen is ``width`` x ``height`` holding a single 1x1 frame."""
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return header + frame + b"\x3b"


@pytest.mark.parametrize(
    ("data", "limits"),
    [
        (encode(Image.fromarray(DARK)), pp.Limits(max_bytes=1000)),
        (b"\x00" * (pp.Limits().max_bytes + 1), pp.Limits()),
        (png_header_only(50_000, 50_000), pp.Limits()),
        (png_header_only(50_000, 50_000), pp.Limits(max_side=10**6, max_pixels=10**12)),  # Pillow's own guard
        (png_header_only(60_000, 2), pp.Limits()),
        (png_header_only(4096, 4000), pp.Limits()),  # each side allowed, too many pixels in all
        (gif_header_only(5000, 5000), pp.Limits()),
        (gif_header_only(65535, 65535), pp.Limits()),
        (encode(Image.new("L", (300, 200))), pp.Limits(max_side=299)),
    ],
    ids=["bytes", "bytes (default)", "PNG bomb", "PNG bomb (Pillow)", "strip", "pixels", "GIF", "GIF bomb", "side"],
)
def test_too_large(data: bytes, limits: pp.Limits) -> None:
    with pytest.raises(pp.ImageTooLarge):
        pp.load_image(data, limits)


def test_limits_are_inclusive() -> None:
    data = encode(Image.fromarray(DARK))
    limits = pp.Limits(max_bytes=len(data), max_side=300, max_pixels=300 * 300)
    check_output(pp.preprocess(data, limits))


# -- unreadable -------------------------------------------------------------------------------

GOOD_PNG = encode(Image.fromarray(DARK))
GOOD_JPEG = encode(Image.fromarray(DARK), "JPEG")
IDAT = GOOD_PNG.index(b"IDAT") + 4  # the first byte of the zlib stream


def flip(data: bytes, position: int) -> bytes:
    changed = bytearray(data)
    changed[position] ^= 0x10
    return bytes(changed)


@pytest.mark.parametrize(
    "data",
    [
        np.random.default_rng(0).bytes(2000),
        b"",
        GOOD_PNG[: len(GOOD_PNG) // 2],
        GOOD_PNG[:20],
        flip(GOOD_PNG, 18),  # in IHDR: bad checksum
        flip(GOOD_PNG, IDAT),  # the zlib header
        GOOD_JPEG[: len(GOOD_JPEG) // 2],
        b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><text>7</text></svg>',
        encode(Image.fromarray(DARK), "TIFF"),
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n",
    ],
    ids=["random", "empty", "truncated PNG", "PNG header only", "bit flip IHDR", "bit flip IDAT", "truncated JPEG",
         "SVG", "TIFF", "PDF"],
)  # fmt: skip
def test_unreadable(data: bytes) -> None:
    with pytest.raises(pp.UnreadableImage):
        pp.load_image(data)


def test_messages_do_not_echo_the_upload() -> None:
    data = b"<script>alert('digits')</script>" * 10
    with pytest.raises(pp.UnreadableImage) as caught:
        pp.load_image(data)
    assert "script" not in str(caught.value) and "alert" not in str(caught.value)
    assert "PNG" in str(caught.value)  # it says what is accepted


def test_errors_are_value_errors() -> None:
    for error in (pp.ImageTooLarge, pp.UnreadableImage, pp.NoDigitFound):
        assert issubclass(error, pp.ImageError)
    assert issubclass(pp.ImageError, ValueError)


# -- to_png -----------------------------------------------------------------------------------


def test_to_png_round_trip() -> None:
    out = pp.preprocess(GOOD_PNG)
    image = Image.open(io.BytesIO(pp.to_png(out)))
    assert (image.format, image.mode, image.size) == ("PNG", "L", (28, 28))
    assert np.array_equal(np.asarray(image), np.rint(out * 255).astype(np.uint8))


def test_to_png_rejects_a_wrong_shape() -> None:
    with pytest.raises(ValueError, match="2-D"):
        pp.to_png(np.zeros(784))


# -- MNIST digits drawn as a browser canvas sends them ------------------------------------------


@pytest.fixture(scope="module")
def mnist_test(mnist_dir: Path) -> Dataset:
    return load_mnist_split(mnist_dir, "t10k")


@pytest.fixture(scope="module")
def renderings(mnist_test: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1,000 MNIST test digits (originals, labels) and their canvas renderings preprocessed."""
    rng = np.random.default_rng(20240601)
    index = rng.choice(len(mnist_test), 1000, replace=False)
    originals = mnist_test.images[index]
    processed = np.stack(
        [pp.preprocess(render_like_canvas(image, rng, transparent=k % 3 == 0)) for k, image in enumerate(originals)]
    )
    return originals, mnist_test.labels[index], processed


@pytest.fixture(scope="module")
def all_enlarged(mnist_test: Dataset) -> tuple[np.ndarray, list[str]]:
    """All 10,000 MNIST test digits enlarged as the canvas renderings are, through ``to_mnist``:
    (the (n, 28, 28) results, with zeros for refused digits; the refusals, one line each).

    The pixels are those of ``render_like_canvas``'s dark-on-white rendering without the blank
    canvas around them and the PNG (lossless): the whole way costs 4 times as much, and the
    1,000 ``renderings`` go it, in both forms.
    """
    processed = np.zeros((len(mnist_test), SIDE, SIDE), dtype=np.float32)
    refused = []
    for k, image in enumerate(mnist_test.images):
        enlarged = Image.fromarray(image, mode="L").resize((SCALE * SIDE, SCALE * SIDE), Image.Resampling.BILINEAR)
        try:
            processed[k] = pp.to_mnist(ImageOps.invert(enlarged))
        except pp.NoDigitFound as e:
            refused.append(f"#{k}, a {mnist_test.labels[k]}: {e}")
    return processed, refused


@pytest.mark.mnist
def test_canvas_renderings_match_the_originals(renderings: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    originals, _, processed = renderings
    correlations = np.array([corr(a.astype(np.float64), b) for a, b in zip(originals, processed)])
    mean = correlations.mean()
    assert mean > 0.8, f"mean correlation {mean:.4f} (min {correlations.min():.4f})"


@pytest.mark.mnist
def test_network_reads_renderings_as_well_as_originals(renderings: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    if not WEIGHTS.is_file():
        pytest.skip(f"{WEIGHTS} has not been trained yet")
    originals, labels, processed = renderings
    net = Network.load(WEIGHTS)
    on_originals = np.mean(net.predict(originals.reshape(-1, 784).T / 255.0) == labels)
    on_renderings = np.mean(net.predict(processed.reshape(-1, 784).T) == labels)
    assert on_renderings >= on_originals - 0.01, (
        f"accuracy {on_renderings:.1%} on renderings, {on_originals:.1%} on originals"
    )


@pytest.mark.mnist
def test_every_mnist_test_digit_on_the_canvas_is_a_digit(all_enlarged: tuple[np.ndarray, list[str]]) -> None:
    """None of the 10,000 is taken for a dot or a dash (or refused at all): the 1s, and the boldest
    digits, whose loops are filled in, included."""
    _, refused = all_enlarged
    assert not refused, f"{len(refused)} refused: " + "; ".join(refused[:5])


@pytest.mark.mnist
def test_network_reads_all_enlarged_test_digits_as_well_as_originals(
    mnist_test: Dataset, all_enlarged: tuple[np.ndarray, list[str]]
) -> None:
    if not WEIGHTS.is_file():
        pytest.skip(f"{WEIGHTS} has not been trained yet")
    processed, _ = all_enlarged
    net = Network.load(WEIGHTS)
    on_originals = np.mean(net.predict(mnist_test.images.reshape(-1, PIXELS).T / 255.0) == mnist_test.labels)
    on_enlarged = np.mean(net.predict(processed.reshape(-1, PIXELS).T) == mnist_test.labels)
    assert on_enlarged >= on_originals - 0.01, f"accuracy {on_enlarged:.2%} enlarged, {on_originals:.2%} originals"


# -- the fast path for the page's drawings (dark ink on a transparent canvas) ---------------------


def general(image: Image.Image) -> np.ndarray:
    """``to_mnist`` by its general path, the two public steps one after the other."""
    return pp.ink_to_mnist(pp.ink_map(image))


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize(("canvas", "size", "at"), [(280, 200, (40, 30)), (360, 150, (150, 60)), (600, 500, (50, 50))])
def test_the_pages_drawings_come_out_as_by_the_general_path(shape: str, canvas: int, size: int, at: tuple) -> None:
    """Near-black ink on transparent pixels, as the page sends it, takes a faster way (the ink's box
    averaged down, then resampled once into the field); its 28x28 image is the general path's within
    a measured bound: at most 0.16 on any pixel, correlation 0.9938 or better over these drawings.
    The general path scales, then shifts by a fraction of a pixel (bilinear), which blurs a little
    more: the differences are at the strokes' edges (the next test weighs them against MNIST)."""
    image = canvas_rgba(draw(shape, size=size, stroke=max(3, size // 13), at=at, canvas=canvas), (17, 17, 17))
    fast, slow = pp.to_mnist(image), general(image)
    check_output(fast)
    assert np.abs(fast - slow).max() <= 0.2
    assert corr(fast, slow) >= 0.99
    assert centre_of_mass(fast) == pytest.approx(pp.TARGET_CENTRE, abs=0.1)


@pytest.mark.mnist
def test_the_fast_path_matches_mnist_as_well_as_the_general_path(mnist_test: Dataset) -> None:
    """On 300 MNIST test digits rendered as the page sends a drawing (transparent canvas), the fast
    path's 28x28 images correlate with the originals at least as well as the general path's
    (measured: 0.954 against 0.951 on average)."""
    rng = np.random.default_rng(7)
    fast, slow = [], []
    for original in mnist_test.images[rng.choice(len(mnist_test), 300, replace=False)]:
        image = pp.load_image(render_like_canvas(original, rng, transparent=True))
        fast.append(corr(original.astype(np.float64), pp.to_mnist(image)))
        slow.append(corr(original.astype(np.float64), general(image)))
    assert np.mean(fast) >= np.mean(slow) - 0.001, f"fast {np.mean(fast):.4f}, general {np.mean(slow):.4f}"
    assert np.mean(fast) >= 0.95


def rainbow_ink(light: np.ndarray) -> Image.Image:
    """Transparent canvas, ink whose colour runs from black to bright red across the image."""
    image = np.asarray(canvas_rgba(light, (0, 0, 0))).copy()
    image[..., 0] = np.where(light > 0, np.linspace(0, 255, light.shape[1], dtype=np.uint8)[None, :], 0)
    return Image.fromarray(image, mode="RGBA")


def white_backed(light: np.ndarray) -> Image.Image:
    """Dark ink on see-through pixels that keep a white colour (as some editors save them)."""
    image = np.asarray(canvas_rgba(light, (17, 17, 17))).copy()
    image[light == 0, :3] = 255
    return Image.fromarray(image, mode="RGBA")


def touching_the_border(light: np.ndarray) -> Image.Image:
    """The drawing moved left until its strokes cross the image's left edge."""
    moved = np.zeros_like(light)
    moved[:, : light.shape[1] - 110] = light[:, 110:]
    assert moved[:, 0].any()
    return canvas_rgba(moved, (17, 17, 17))


@pytest.mark.parametrize(
    "make",
    [
        lambda: canvas_rgba(LIGHT, (255, 255, 255)),  # light ink
        lambda: canvas_rgba(LIGHT, (20, 30, 200)),  # blue ink
        lambda: rainbow_ink(LIGHT),
        lambda: white_backed(LIGHT),
        lambda: touching_the_border(LIGHT),
        lambda: Image.fromarray(np.stack([DARK] * 3 + [np.where(LIGHT > 0, 255, 200).astype(np.uint8)], axis=-1)),
        lambda: Image.fromarray(DARK),
        lambda: Image.fromarray(np.stack([np.zeros_like(LIGHT), LIGHT], axis=-1), mode="LA"),
    ],
    ids=[
        "light ink",
        "blue ink",
        "colours",
        "white under the transparency",
        "ink at the border",
        "mostly opaque",
        "opaque L",
        "LA",
    ],
)
def test_other_images_take_the_general_path(make: Callable[[], Image.Image]) -> None:
    image = make()
    assert np.array_equal(pp.to_mnist(image), general(image))
