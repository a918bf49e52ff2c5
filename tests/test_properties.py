"""Property tests (Hypothesis): preprocessing of any image, and the network on any valid batch.

Preprocessing either gives the network's (28, 28) float32 input, finite and in [0, 1], or says
there is no digit; nothing else, whatever the size, mode, format, colours, strokes or noise. A tap
or a dash shorter than about two widths of its pen is never a digit, and a longer stroke is, at
any size of pad and pen, and ``stroke_shape`` measures such a mark's length and pen.
``POST /api/read`` of any image answers its digits, each boxed inside the image, left to right, or
a documented 422. The network gives finite (10, n) outputs, and probabilities that sum to 1 per column, for any
batch of pixel values in [0, 1].
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageDraw

from model import preprocess
from model.network import ACTIVATIONS, COSTS, Network
from model.preprocess import NoDigitFound
from model.segment import MAX_DIGITS
from tests.support.canvas import pen_mark

ROOT = Path(__file__).resolve().parent.parent


def examples(n: int) -> settings:
    """``n`` examples per parameter set; no deadline; no example database (nothing is written
    into the working tree)."""
    return settings(
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# The modes each format can hold, as Pillow writes them (checked: each saves and reads back).
FORMAT_MODES = {
    "PNG": ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"),
    "JPEG": ("1", "L", "RGB", "CMYK"),
    "GIF": ("1", "L", "P", "RGB", "RGBA"),
    "BMP": ("1", "L", "P", "RGB", "RGBA"),
    "WEBP": ("L", "LA", "P", "RGB", "RGBA"),
}
COMBOS = [(fmt, mode) for fmt, modes in FORMAT_MODES.items() for mode in modes]

colours = st.tuples(*[st.integers(0, 255)] * 3, st.sampled_from([0, 255]) | st.integers(0, 255))


@st.composite
def strokes(draw, width: int, height: int) -> list[tuple]:
    """Lines, polylines and ellipses anywhere (partly off the image too), random width and colour."""
    x = st.floats(-0.2, 1.2).map(lambda f: f * width)
    y = st.floats(-0.2, 1.2).map(lambda f: f * height)
    point = st.tuples(x, y)
    shape = st.one_of(
        st.tuples(st.just("line"), st.lists(point, min_size=2, max_size=5)),
        st.tuples(st.just("ellipse"), st.tuples(point, point)),
        st.tuples(st.just("rectangle"), st.tuples(point, point)),
    )
    return draw(st.lists(st.tuples(shape, st.integers(1, 40), colours), max_size=6))


def paint(image: Image.Image, shapes: list[tuple]) -> None:
    pen = ImageDraw.Draw(image)
    for (kind, points), width, colour in shapes:
        if kind == "line":
            pen.line(points, fill=colour, width=width, joint="curve")
        else:
            (x0, y0), (x1, y1) = points
            box = [(min(x0, x1), min(y0, y1)), (max(x0, x1), max(y0, y1))]
            getattr(pen, kind)(box, outline=colour, width=width)


@st.composite
def encoded_images(draw, fmt: str, mode: str) -> bytes:
    """An image file in format ``fmt`` of an image of mode ``mode``."""
    width, height = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    image = Image.new("RGBA", (width, height), draw(colours))
    paint(image, draw(strokes(width, height)))
    pixels = np.asarray(image).astype(np.float32)
    noise = draw(st.sampled_from([0.0, 0.0, 3.0, 25.0, 120.0]))
    if noise:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        channels = 4 if draw(st.booleans()) else 3  # noise in the alpha channel too, or not
        pixels[..., :channels] += rng.normal(0, noise, (height, width, channels))
    rgba = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGBA")
    if mode == "I;16":
        scale = draw(st.sampled_from([1, 16, 257]))  # 8-, 12- and 16-bit ranges
        grey = np.asarray(rgba.convert("L"), dtype=np.uint32) * scale
        converted = Image.fromarray(grey.astype(np.uint16))
    elif mode == "1":
        converted = rgba.convert("L").convert("1")
    elif mode == "P":
        colors = draw(st.integers(2, 256))
        converted = rgba.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=colors)
        if draw(st.booleans()):
            converted.info["transparency"] = draw(st.integers(0, colors - 1))
    else:
        converted = rgba.convert(mode)
    options: dict = {}
    if fmt == "JPEG":
        options = {"quality": draw(st.integers(1, 95)), "subsampling": draw(st.sampled_from([0, 1, 2]))}
    elif fmt == "WEBP":
        options = {"lossless": draw(st.booleans()), "quality": draw(st.integers(0, 100))}
    if fmt in ("JPEG", "PNG", "WEBP") and draw(st.booleans()):
        exif = Image.Exif()
        exif[0x0112] = draw(st.integers(0, 10))  # EXIF orientation: 1-8 valid, the rest not
        options["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    converted.save(buffer, fmt, **options)
    return buffer.getvalue()


def check_network_input(x: np.ndarray) -> None:
    assert x.shape == (28, 28)
    assert x.dtype == np.float32
    assert np.all(np.isfinite(x))
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert x.max() > 0.0  # a digit was found, so some ink is there


@pytest.mark.parametrize(("fmt", "mode"), COMBOS)
@examples(8)
@given(data=st.data())
def test_preprocess_any_image_gives_network_input_or_no_digit(fmt, mode, data) -> None:
    image = data.draw(encoded_images(fmt, mode))
    try:
        x = preprocess.preprocess(image)
    except NoDigitFound:
        event("no digit")
        return
    check_network_input(x)


@pytest.fixture(scope="module")
def reader():
    """A test client of the app with the shipped models and no rate limits (module-wide: Hypothesis
    runs many examples per test, and the app keeps no state between readings)."""
    from app import create_app

    return create_app({"TESTING": True, "RATE_LIMITS": "off"}).test_client()


@pytest.mark.parametrize(
    ("fmt", "mode"), [("PNG", "L"), ("PNG", "RGBA"), ("JPEG", "RGB"), ("GIF", "P"), ("WEBP", "LA")]
)
@examples(15)
@given(data=st.data(), width=st.integers(1, 900), height=st.integers(1, 300))
def test_read_any_image_gives_digits_left_to_right_in_the_image_or_a_documented_error(
    reader, fmt, mode, data, width, height
) -> None:
    """``POST /api/read`` of any image: its digits, each box inside the image and in reading order, the
    text their labels; or 422 ``no_digit`` or ``too_many_digits``, nothing else."""
    paper = (0, 0, 0, 0) if mode in ("RGBA", "LA") and data.draw(st.booleans()) else (255, 255, 255, 255)
    image = Image.new("RGBA", (width, height), paper)
    paint(image, data.draw(strokes(width, height)))
    out = io.BytesIO()
    image.convert(mode).save(out, format=fmt)
    response = reader.post("/api/read", data=out.getvalue(), content_type=f"image/{fmt.lower()}")
    body = response.get_json()
    if response.status_code == 422:
        assert body["error"]["code"] in ("no_digit", "too_many_digits")
        event(body["error"]["code"])
        return
    assert response.status_code == 200, body
    digits = body["digits"]
    assert 1 <= len(digits) <= MAX_DIGITS
    assert body["text"] == "".join(str(d["label"]) for d in digits)
    event(f"{len(digits)} digits")
    centres = []
    for d in digits:
        x0, y0, x1, y1 = d["box"]
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, (d["box"], width, height)
        assert d["label"] in range(10) and 0 < d["confidence"] <= 1
        centres.append((x0 + x1) / 2)
    assert centres == sorted(centres)


# In-memory images of every mode to_mnist handles, including the float and 32-bit integer modes
# that no accepted file format carries, with NaN and infinities among the floats.
ARRAY_MODES = {
    "L": np.uint8,
    "I;16": np.uint16,
    "I": np.int32,
    "F": np.float32,
}


MEMORY_MODES = [*ARRAY_MODES, "1", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "CMYK", "YCbCr", "HSV"]


@st.composite
def memory_images(draw, mode: str) -> Image.Image:
    height, width = draw(st.integers(1, 120)), draw(st.integers(1, 120))
    if mode in ARRAY_MODES:
        dtype = ARRAY_MODES[mode]
        if mode == "F":
            elements = st.floats(width=32, allow_nan=True, allow_infinity=True) | st.floats(0, 1, width=32)
        else:
            info = np.iinfo(dtype)
            elements = st.integers(int(info.min), int(info.max))
        array = draw(hnp.arrays(dtype, (height, width), elements=elements, fill=elements))
        if draw(st.booleans()):  # a bright bar on whatever the background is, so there is often a digit
            top, left = draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))
            array[top : top + max(2, height // 2), left : left + max(1, width // 6)] = draw(elements)
        return Image.fromarray(array) if mode != "I;16" else Image.fromarray(array.astype(np.uint16))
    image = Image.new("RGBA", (width, height), draw(colours))
    paint(image, draw(strokes(width, height)))
    return image.convert(mode)


@pytest.mark.parametrize("mode", MEMORY_MODES)
@examples(10)
@given(data=st.data())
def test_to_mnist_any_mode_gives_network_input_or_no_digit(mode, data) -> None:
    image = data.draw(memory_images(mode))
    assert image.mode == mode
    try:
        x = preprocess.to_mnist(image)
    except NoDigitFound:
        return
    check_network_input(x)


# -- taps, dashes and strokes of a round pen ----------------------------------------------------------


@st.composite
def marks(draw, pens: st.SearchStrategy[float]) -> tuple[bytes, float, float]:
    """(PNG bytes, pen width, centre-line length) of one mark of a round pen, ``pens`` pen widths
    long, on a pad of any size, dark on white or on a transparent canvas."""
    canvas = draw(st.integers(100, 700))
    pen = draw(st.floats(2.0, 0.15 * canvas))
    length = draw(pens) * pen
    angle = draw(st.floats(0, np.pi))
    return pen_mark(canvas, pen, length, angle=angle, transparent=draw(st.booleans())), pen, length


@examples(40)
@given(mark=marks(st.floats(0, 0.6)))
def test_a_tap_or_a_dash_under_two_pens_is_never_a_digit(mark) -> None:
    png, pen, _ = mark
    with pytest.raises(NoDigitFound) as refused:
        preprocess.preprocess(png)
    if pen >= 4:  # thinner, a tap is a few pixels: refused as a speck, which it also is
        assert "looks like a dot or a dash" in str(refused.value)


@examples(40)
@given(mark=marks(st.floats(2, 6)))
def test_a_stroke_three_pens_long_is_a_digit(mark) -> None:
    png, pen, length = mark
    canvas = preprocess.load_image(png).width
    # Off the pad, or a speck on it, it is refused for that; within twice the speck size a mark is a
    # few pixels across, too few to tell its pen from its length (2,000 examples found such cases).
    assume(length + pen < 0.9 * canvas and length + pen > 2 * preprocess.MIN_BOX_FRACTION * canvas + 2)
    check_network_input(preprocess.preprocess(png))


@examples(40)
@given(pen=st.floats(8, 60), pens=st.floats(0, 6), angle=st.floats(0, np.pi))
def test_stroke_shape_measures_a_marks_pen_and_length(pen, pens, angle) -> None:
    canvas = int((pens + 1) * pen + 40)
    ink = 1 - np.asarray(preprocess.load_image(pen_mark(canvas, pen, pens * pen, angle=angle)), np.float32) / 255
    length, width = preprocess.stroke_shape(ink)
    assert length == pytest.approx((pens + 1) * pen, rel=0.12)  # the centre line and the two round ends
    # Within 30%: a pen under about 12 px is only a few pixels across, and a dot's shape says least of its pen.
    assert width == pytest.approx(pen, rel=0.3)


# -- the network ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> dict[str, Network]:
    return {name: Network.load(ROOT / "model" / f"{name}.npz") for name in ("digits", "seed")}


@st.composite
def batches(draw, n_in: int, dtype) -> np.ndarray:
    """(n_in, n) pixel values in [0, 1]: structured (a fill value and some others), or random."""
    n = draw(st.integers(1, 64))
    if draw(st.booleans()):
        width = 32 if dtype == np.float32 else 64
        values = st.floats(0, 1, width=width)
        return draw(hnp.arrays(dtype, (n_in, n), elements=values, fill=values))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["uniform", "binary", "sparse"]))
    if kind == "uniform":
        x = rng.random((n_in, n))
    elif kind == "binary":
        x = (rng.random((n_in, n)) < 0.5).astype(float)
    else:
        x = np.where(rng.random((n_in, n)) < 0.1, rng.random((n_in, n)), 0.0)
    return x.astype(dtype)


def check_outputs(network: Network, x: np.ndarray) -> None:
    n = x.shape[1]
    out = network.feedforward(x)
    assert out.shape == (10, n)
    assert np.all(np.isfinite(out))
    p = network.predict_proba(x)
    assert p.shape == (10, n)
    assert np.all(np.isfinite(p))
    assert np.all(p >= 0) and np.all(p <= 1 + 1e-6)
    np.testing.assert_allclose(p.sum(axis=0), 1.0, atol=1e-4)


@pytest.mark.parametrize("name", ["digits", "seed"])
@examples(50)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]))
def test_shipped_models_on_any_batch(shipped, name, data, dtype) -> None:
    check_outputs(shipped[name], data.draw(batches(784, dtype)))


@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@examples(30)
@given(
    data=st.data(),
    init=st.sampled_from(["scaled", "classic"]),
    net_dtype=st.sampled_from(["float32", "float64"]),
    n_in=st.sampled_from([784]) | st.integers(1, 100),
    hidden=st.lists(st.integers(1, 40), max_size=3),
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_random_networks_on_any_batch(cost, activation, data, init, net_dtype, n_in, hidden, seed, dtype) -> None:
    network = Network([n_in, *hidden, 10], cost=cost, activation=activation, init=init, dtype=net_dtype, seed=seed)
    check_outputs(network, data.draw(batches(n_in, dtype)))


def test_sigmoid_probabilities_when_every_output_underflows() -> None:
    """A quadratic-cost (sigmoid output) network whose pre-activations are all below about -18:
    in float32 every sigmoid is exactly 0, and a plain normalised column would be 0/0."""
    network = Network([4, 10], cost="quadratic", dtype="float32")
    network.biases[0][:] = -40
    with np.errstate(all="raise"):
        check_outputs(network, np.ones((4, 3), dtype=np.float32))
