"""Turning an uploaded picture of a digit into the 28x28 input the network was trained on.

MNIST's digits were made by scaling each handwritten digit so that its longer side is 20 pixels
(keeping the aspect ratio, with anti-aliasing) and placing it in a 28x28 field with its centre of
mass at the centre; the ink is light (up to 1.0) on a black (0) background. ``to_mnist`` does the
same to any image Pillow reads: a browser canvas (dark strokes on transparent pixels), a phone
photo of ink on paper (``model.paper`` removes the paper's light first), a white-on-black
drawing, a 16-bit scan. It refuses what is not a digit: a
blank or faint image, a speck, and a tap or a short dash, whatever the pen (``stroke_shape``).

``load_image`` is the guarded way in for untrusted bytes: it refuses oversized bodies and
decompression bombs before decoding, and turns every decoding failure into ``UnreadableImage``.
``preprocess`` is both steps; ``to_png`` encodes the result to show what the network saw.
``to_mnist`` is two steps that ``model.segment`` also uses one at a time: ``ink_map`` (the whole
image as ink on a black background) and ``ink_to_mnist`` (one digit's ink to the 28x28 form).

Pillow and NumPy only: no web framework, no app code.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from model import paper
from model.shape import SIDE

ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")

BOX = 20  # the longer side of the digit's box, as in MNIST

# Where the centre of mass of the ink lies in an MNIST image, as (row, column) in pixel-index
# coordinates (pixel (0, 0)'s centre is (0, 0)). Measured once as the mean over the 60,000
# MNIST training images of each image's intensity-weighted mean row and column index
# (the 10,000 test images give 13.993, 14.008; the spread from image to image is ~0.29 px).
TARGET_CENTRE = (13.996, 14.007)

WORK_SIDE = 1024  # larger images are first shrunk by an integer factor to at most about this side
# A JPEG larger than this on its shorter side is decoded at 1/2, 1/4 or 1/8 of its size (Pillow's draft
# mode: the decoder skips the detail), the smallest that keeps this many pixels on the shorter side.
DRAFT_SIDE = 512
DRAFT_SCALE = "digits.draft_scale"  # ``image.info`` key: original pixels per decoded pixel (1 unless drafted)
INK_THRESHOLD = 0.25  # fraction of the ink's maximum a pixel needs to count towards the digit's box
SPECK_FRACTION = 0.02  # a detached run of rows or columns with less of the ink than this is a speck
MIN_CONTRAST = 0.1  # the ink must differ from the background by at least this much (of the full 0-1 range)
MIN_BOX_FRACTION = 0.04  # the digit's box needs one side at least this fraction of the image's longer side
MIN_BOX_PIXELS = 2  # ... and at least this many pixels
MIN_LENGTH_IN_WIDTHS = 2.0  # ink shorter than this many widths of its pen is a dot or a dash, not a digit
MARGIN = 3  # output pixels of context kept around the box when scaling (the strokes' soft edges)


@dataclass(frozen=True)
class Limits:
    """What ``load_image`` accepts: body size in bytes, pixels per side, and pixels in all."""

    max_bytes: int = 8 * 1024 * 1024  # a 12-megapixel phone JPEG is 3-6 MB
    max_side: int = 4096
    max_pixels: int = 16_000_000


class ImageError(ValueError):
    """An image that cannot be used; the message says why in words a person can act on."""


class ImageTooLarge(ImageError):
    """Too many bytes, too many pixels on a side or in all, or a decompression bomb."""


class UnreadableImage(ImageError):
    """Not an image in an accepted format, or truncated or corrupt."""


class NoDigitFound(ImageError):
    """The image is blank, its ink is too small or too faint to be a digit, or it is a dot or a dash."""


# -------------------------------------------------------------------------------------------
# Loading untrusted bytes
# -------------------------------------------------------------------------------------------

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, TypeError, IndexError, KeyError, EOFError, struct.error, zlib.error)


def load_image(data: bytes, limits: Limits = Limits()) -> Image.Image:
    """Decode ``data`` into a Pillow image: the first frame, upright per its EXIF orientation.

    The size checks come before any pixel is decoded: Pillow's ``open`` reads only the header.
    A large JPEG is decoded at a reduced size (``DRAFT_SIDE``); ``image.info[DRAFT_SCALE]`` says
    by how much, so that positions found in the image can be given in the original's pixels.
    Raises ``ImageTooLarge`` or ``UnreadableImage``; the messages never quote the data.
    """
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(f"the image is {len(data):,} bytes; the limit is {limits.max_bytes:,} bytes")
    if not data:
        raise UnreadableImage("the upload is empty: expected an image")
    accepted = ", ".join(ACCEPTED_FORMATS)
    # No warnings.catch_warnings() to turn Pillow's DecompressionBombWarning into an error: it is
    # not thread-safe, and the limits below refuse such images anyway (Pillow itself refuses
    # the worst bombs with DecompressionBombError).
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge("the image has too many pixels (a decompression bomb?)") from None
    except UnidentifiedImageError:
        raise UnreadableImage(f"not an image in an accepted format ({accepted})") from None
    except _DECODE_ERRORS:
        raise UnreadableImage(f"the image header is corrupt: not a readable {accepted} image") from None
    width, height = image.size
    if max(width, height) > limits.max_side:
        raise ImageTooLarge(f"the image is {width}x{height} pixels; the limit is {limits.max_side} on a side")
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"the image is {width}x{height} = {width * height:,} pixels; the limit is {limits.max_pixels:,}"
        )
    if width < 1 or height < 1:
        raise UnreadableImage(f"the image is {width}x{height} pixels: it has no pixels")
    kind = image.format or "image"
    try:
        image.seek(0)  # the first frame of an animation
        scale = 1.0
        if image.format == "JPEG" and min(width, height) > DRAFT_SIDE:
            image.draft(image.mode, (DRAFT_SIDE, DRAFT_SIDE))
            scale = width / image.size[0]
        image.load()
        image.info[DRAFT_SCALE] = scale
        ImageOps.exif_transpose(image, in_place=True)  # keeps ``image.format``
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge("the image has too many pixels (a decompression bomb?)") from None
    except _DECODE_ERRORS as e:
        truncated = "truncated" in str(e).lower() or isinstance(e, EOFError)
        problem = "is truncated" if truncated else "is corrupt"
        raise UnreadableImage(f"the {kind} data {problem}: it cannot be decoded") from None
    return image


def preprocess(data: bytes, limits: Limits = Limits()) -> np.ndarray:
    """Image bytes -> (28, 28) float32 network input: ``to_mnist(load_image(data, limits))``."""
    return to_mnist(load_image(data, limits))


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Float values in [0, 1] (e.g. ``to_mnist``'s output) -> uint8 0-255, as MNIST stores them."""
    # fmax and fmin take the number over a NaN: NaN becomes 0, and an infinity the nearer end.
    return np.rint(np.fmin(np.fmax(np.asarray(array, dtype=np.float64), 0.0), 1.0) * 255).astype(np.uint8)


def to_png(array: np.ndarray) -> bytes:
    """A 2-D float array in [0, 1] (e.g. ``to_mnist``'s (28, 28) output), or uint8 pixels, -> 8-bit
    greyscale PNG bytes.

    Written directly (signature, IHDR, one IDAT of unfiltered rows, IEND): for a 28x28 image that
    is a tenth of the time Pillow's encoder takes, spent mostly setting itself up.
    """
    if np.ndim(array) != 2:
        raise ValueError(f"expected a 2-D array, got shape {np.shape(array)}")
    pixels = array if np.asarray(array).dtype == np.uint8 else to_uint8(array)
    height, width = pixels.shape
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # each row led by its filter type, 0: none
    rows[:, 1:] = pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale, not interlaced
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 1))  # level 1: half the time, a few bytes more
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk: length, type, data, and the CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# -------------------------------------------------------------------------------------------
# The MNIST transformation
# -------------------------------------------------------------------------------------------


def to_mnist(image: Image.Image) -> np.ndarray:
    """Any Pillow image of one digit -> (28, 28) float32 in [0, 1], light ink on black, as MNIST.

    Greyscale (luminance), transparency flattened onto the colour opposite the ink, polarity
    made light-on-dark, cropped to the ink's box (faint pixels and detached specks ignored),
    scaled so the box's longer side is 20 px, and placed with its centre of mass at MNIST's
    mean centre of mass, to a fraction of a pixel. Raises ``NoDigitFound`` when there is no
    usable ink, or when the ink is a dot or a dash rather than a digit.
    """
    fast = _canvas_to_mnist(image)
    return fast if fast is not None else ink_to_mnist(ink_map(image))


def ink_map(image: Image.Image) -> np.ndarray:
    """Any Pillow image -> its ink (h, w) float32 in [0, 1]: 0 on the background, 1 at the strongest ink.

    ``(h, w)`` is the image's size, or that divided by a whole factor for an image larger than
    ``WORK_SIDE``. A photo of paper (``model.paper.looks_like_photo``) has its light removed by
    ``model.paper.find_ink``; anything else is measured against its border's colour. Raises
    ``NoDigitFound`` for a blank or faint image.
    """
    if image.width < 1 or image.height < 1:
        raise NoDigitFound(f"no digit found: the image is {image.width}x{image.height} pixels")
    grey, alpha = _planes(image)  # (h, w) in [0, 1]
    grey = _flatten(grey, alpha)
    if alpha is None and paper.looks_like_photo(grey):
        return paper.find_ink(grey)
    return _ink(grey)


def ink_to_mnist(ink: np.ndarray) -> np.ndarray:
    """One digit's ink (h, w), 0 = background (``ink_map``'s form) -> (28, 28) float32 in [0, 1] as MNIST.

    Cropped to the ink's box (faint pixels and detached specks ignored), scaled so the box's
    longer side is 20 px, placed with its centre of mass at MNIST's. Raises ``NoDigitFound``
    when the ink is blank, a speck, a dot or a dash.
    """
    return box_to_mnist(ink, _digit_box(ink), ink.shape)


def box_to_mnist(ink: np.ndarray, box: tuple[int, int, int, int], frame: tuple[int, int]) -> np.ndarray:
    """``ink_to_mnist`` of ``ink`` (h, w) whose digit's box (top, left, bottom, right) is known and
    which is part of an image of shape ``frame`` (h, w), against which a speck is measured: for a
    caller that already has the box (``model.segment`` reads many pieces of one image)."""
    top, left, bottom, right = box
    _refuse_marks(ink[top:bottom, left:right], frame)
    patch = _scale(ink, top, left, bottom, right)
    out = np.clip(_centre(patch), 0.0, 1.0)
    peak = out.max()
    if peak > 0:
        out /= peak  # MNIST's strokes all reach full intensity; thin ones lose some in the scaling
    return out.astype(np.float32)


# -------------------------------------------------------------------------------------------
# The page's drawings, fast
# -------------------------------------------------------------------------------------------

# The page (static/js/pad.js) sends near-black strokes (#111111, anti-aliased) on transparent
# pixels. For such an image the general path's ink is the alpha channel divided by its maximum
# (the flattened grey is 1 - alpha * (1 - ink colour), the border is white), so the fast path
# works from the alpha channel alone, on the ink's box shrunk by a whole factor first: no
# whole-image float planes, and every step after the shrinking sees a few thousand pixels.
# It takes only images where that holds: RGBA, no ink in the border ring the general path
# measures the background on, and every pixel's colour darker than this on each channel (the
# browser's anti-aliased edges carry a little colour noise; lighter or coloured ink goes the
# general way, which weighs the ink by its darkness).
_LIGHT_BITS = 0x00C0C0C0  # (little-endian RGBA as one uint32) any of R, G, B at 64 or more
# The fast path first averages the ink's box down by a whole factor (Pillow's ``reduce``), to at
# least this many times BOX pixels on its longer side, then resamples it with Lanczos, as
# Pillow's own ``resize(..., reducing_gap=2.0)`` does: on canvas renderings of MNIST digits the
# 28x28 result is the general path's within 0.15 on any pixel (correlation 0.995 or better).
REDUCING_GAP = 2.0
# Ink this many widths of its pen long, or more, measured on the shrunk box, is surely longer than
# MIN_LENGTH_IN_WIDTHS at full resolution; anything nearer the bound (a dot or a dash, or a digit
# close to one) is left to the general path, which measures the box itself.
CLEAR_LENGTH_IN_WIDTHS = 3.0


def _canvas_to_mnist(image: Image.Image) -> np.ndarray | None:
    """``to_mnist`` for a drawing as the page sends it (dark ink on transparent pixels), or None.

    None when the image is not of that kind, or when it may be refused (the general path then
    decides, with its reasons); otherwise the (28, 28) float32 the general path gives, but for the
    whole-factor shrinking before the Lanczos resampling (``REDUCING_GAP``) and for placing the
    centre of mass by the resampling itself rather than by a shift afterwards.
    """
    if image.mode != "RGBA" or max(image.size) > WORK_SIDE:
        return None
    bbox = image.getbbox(alpha_only=True)  # outside it every pixel is see-through
    if bbox is None:
        return None
    width, height = image.size
    ring = max(1, min(width, height) // 50)  # as ``_ink``'s border ring
    x0, y0, x1, y1 = bbox
    if x0 < ring or y0 < ring or x1 > width - ring or y1 > height - ring:
        return None
    if 2 * (x1 - x0) * (y1 - y0) > width * height:
        return None  # maybe mostly opaque: ``_flatten`` would put it on its own typical colour
    crop = image.crop(bbox)
    # Each pixel as one little-endian word, R | G << 8 | B << 16 | A << 24: one OR over all of
    # them tests the three colours at once, and the largest word of a row or column has that
    # row's or column's strongest alpha in its top byte.
    words = np.asarray(crop).view("<u4")[..., 0]
    if int(np.bitwise_or.reduce(words, axis=None)) & _LIGHT_BITS:
        return None
    row_peak, col_peak = words.max(axis=1) >> 24, words.max(axis=0) >> 24
    peak = int(row_peak.max())
    if peak < math.ceil(MIN_CONTRAST * 255 / 0.75):  # the ink's contrast may be under MIN_CONTRAST
        return None
    strong = math.ceil(INK_THRESHOLD * peak)
    rows, cols = np.flatnonzero(row_peak >= strong), np.flatnonzero(col_peak >= strong)
    if rows[-1] - rows[0] + 1 == rows.size and cols[-1] - cols[0] + 1 == cols.size:
        top, left, bottom, right = int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1
        # Every pixel of half the peak or more lies in the box: the crop's profiles are the box's.
        long_enough = _clearly_long(words, row_peak, col_peak)
    else:  # rows or columns without strong ink: there may be specks to drop
        alpha = (words >> 24).astype(np.uint8)
        top, left, bottom, right = _box_of_strong(np.where(alpha >= strong, alpha, 0))
        box = words[top:bottom, left:right]
        long_enough = _clearly_long(box, box.max(axis=1) >> 24, box.max(axis=0) >> 24)
    longer = max(bottom - top, right - left)
    if longer < max(MIN_BOX_PIXELS, MIN_BOX_FRACTION * max(height, width)):
        return None  # a speck
    # The box with MARGIN output pixels of context, averaged down by a whole factor (the crop fills
    # with zeros beyond the image): every step from here sees a few thousand pixels.
    factor = max(1, int(longer // (BOX * REDUCING_GAP)))
    context = math.ceil(MARGIN * longer / BOX / factor) * factor
    region = crop.getchannel("A").crop((left - context, top - context, right + context, bottom + context))
    if factor > 1:
        region = region.reduce(factor)
    ink = np.asarray(region)
    if not long_enough:  # the bound did not settle it: measure the shrunk box's mark
        inner = context // factor
        length, pen = stroke_shape(ink[inner : ink.shape[0] - inner, inner : ink.shape[1] - inner])
        if length < CLEAR_LENGTH_IN_WIDTHS * pen:
            return None
    return _resample_into_field(region, ink, longer / BOX / factor)


def _clearly_long(words: np.ndarray, row_peak: np.ndarray, col_peak: np.ndarray) -> bool:
    """Whether the mark in ``words`` (h, w: the pixels as ``_canvas_to_mnist`` views them, alpha in
    the top byte; ``row_peak`` (h,) and ``col_peak`` (w,) each row's and column's strongest alpha)
    is surely CLEAR_LENGTH_IN_WIDTHS pen widths long or more, as ``stroke_shape`` measures it: from
    bounds that cost a count and the profiles. False when they do not settle it.

    ``stroke_shape``'s length is at least the mark's extent along a row or a column plus one. Its
    width falls as the perimeter P grows (for a given area A), so a lower bound on P bounds the
    width from above: every row and every column the mark crosses is entered and left once at
    least, and so is each of the diagonals it crosses in one direction, at least as many as the
    longer of its row and column extents (the estimate weighs diagonal crossings by 1/sqrt(2)).
    """
    half = math.ceil(0.5 * int(row_peak.max()))  # stroke_shape's mark: half the maximum or more
    rows, cols = np.flatnonzero(row_peak >= half), np.flatnonzero(col_peak >= half)
    extent = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1.0
    area = float(np.count_nonzero(words >= half << 24))
    straight = 2 * (rows.size + cols.size)
    perimeter = max(math.pi / 8 * (straight + 2 * extent / math.sqrt(2)), 2 * math.sqrt(math.pi * area))
    width = (perimeter - math.sqrt(max(perimeter**2 - 4 * math.pi * area, 0.0))) / math.pi
    return extent + 1 >= CLEAR_LENGTH_IN_WIDTHS * width


def _resample_into_field(region: Image.Image, ink: np.ndarray, step: float) -> np.ndarray:
    """The ink ``region`` (mode L, 0 = background; ``ink`` its (h, w) pixels), ``step`` of its
    pixels to an output pixel, resampled straight into the SIDE x SIDE field with its centre of
    mass at TARGET_CENTRE; float32 in [0, 1] with its maximum at 1.

    Bicubic: after the whole-factor averaging, it matched the originals of canvas renderings of
    MNIST digits as well as Lanczos (mean correlation 0.954 against 0.955) at half the cost.
    """
    rows, cols = ink.sum(axis=1, dtype=np.float32), ink.sum(axis=0, dtype=np.float32)
    total = float(rows.sum())
    # Pixel r's centre is at r + 0.5 in Pillow's coordinates, and output pixel i's at i + 0.5: the
    # field's source box puts the target's centre on the ink's centre of mass.
    com_r = float(rows @ np.arange(rows.size, dtype=np.float32)) / total + 0.5
    com_c = float(cols @ np.arange(cols.size, dtype=np.float32)) / total + 0.5
    span = SIDE * step
    by0, bx0 = com_r - (TARGET_CENTRE[0] + 0.5) * step, com_c - (TARGET_CENTRE[1] + 0.5) * step
    # Zeros around the region wherever the field (and the filter's reach) goes beyond it: Pillow's
    # box must lie within the image, and its crop fills with zeros.
    reach = 2 * max(step, 1.0) + 1
    h, w = ink.shape
    pt, pl = max(0, math.ceil(reach - by0)), max(0, math.ceil(reach - bx0))
    pb, pr = max(0, math.ceil(by0 + span + reach - h)), max(0, math.ceil(bx0 + span + reach - w))
    field = region.crop((-pl, -pt, w + pr, h + pb))
    resampled = field.resize(
        (SIDE, SIDE), Image.Resampling.BICUBIC, box=(bx0 + pl, by0 + pt, bx0 + pl + span, by0 + pt + span)
    )
    out = np.asarray(resampled)
    return out * np.float32(1 / out.max())


def _planes(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Luminance (h, w) and alpha (h, w) or None, float32 in [0, 1]; large images shrunk first."""
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("PA", "RGBa"):
        image = image.convert("RGBA")
    elif mode == "La":
        image = image.convert("LA")
    elif mode == "1":
        image = image.convert("L")
    elif mode.startswith("I;16"):  # 16-bit greyscale: scaled here, as Pillow's conversion would clip it
        image = Image.fromarray(np.asarray(image).astype(np.float32) / 65535, mode="F")
    elif mode in ("I", "F"):
        image = Image.fromarray(_scale_to_unit(np.asarray(image)), mode="F")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX...
    factor = math.ceil(max(image.size) / WORK_SIDE)
    if factor > 1:
        if image.mode == "RGBA":  # average colours weighted by alpha, then undo the weighting
            image = image.convert("RGBa").reduce(factor).convert("RGBA")
        elif image.mode == "LA":
            image = image.convert("La").reduce(factor).convert("LA")
        else:
            image = image.reduce(factor)
    pixels = np.asarray(image)
    if image.mode == "F":
        return pixels.astype(np.float32), None
    pixels = pixels.astype(np.float32) / 255
    if image.mode == "L":
        return pixels, None
    if image.mode == "LA":
        return pixels[..., 0], pixels[..., 1]
    # ITU-R 601-2 luma, the weights of Pillow's own RGB -> L conversion.
    luma = pixels[..., 0] * 0.299 + pixels[..., 1] * 0.587 + pixels[..., 2] * 0.114
    return luma, (pixels[..., 3] if image.mode == "RGBA" else None)


def _scale_to_unit(values: np.ndarray) -> np.ndarray:
    """32-bit integer or float pixels (modes I, F) -> float32 in [0, 1] by their nominal range:
    [0, 1] floats as they are, then 8-bit, then 16-bit; anything else stretched min to max."""
    v = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    if low >= 0 and high <= 1 and values.dtype.kind == "f":
        return v.astype(np.float32)
    for full in (255.0, 65535.0):
        if low >= 0 and high <= full:
            return (v / full).astype(np.float32)
    if high == low:
        return np.zeros(v.shape, dtype=np.float32)
    return ((v - low) / (high - low)).astype(np.float32)


def _flatten(grey: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Composite ``grey`` with transparency ``alpha`` onto an opaque background.

    A drawing on a transparent canvas (most pixels see-through) goes onto the colour opposite
    its ink, judged from the alpha-weighted mean of the opaque pixels: white under dark ink,
    black under light ink. An image that is mostly opaque goes onto its own typical colour.
    """
    if alpha is None or alpha.min() >= 1.0:
        return grey
    opaque = alpha > 0.5
    if opaque.mean() > 0.5:
        background = float(np.median(grey[opaque]))
    else:
        weight = float(alpha.sum())
        ink_level = float((grey * alpha).sum()) / weight if weight > 0 else 0.0
        background = 1.0 if ink_level < 0.5 else 0.0
    return grey * alpha + background * (1 - alpha)


def _ink(grey: np.ndarray) -> np.ndarray:
    """(h, w) greyscale -> ink (h, w): 0 on the background, 1 at the strongest ink.

    The background level is the median of a thin ring of border pixels; the ink is on whichever
    side of it (darker or lighter) the image reaches further.
    """
    h, w = grey.shape
    ring = max(1, min(h, w) // 50)
    border = np.concatenate(
        [grey[:ring].ravel(), grey[-ring:].ravel(), grey[:, :ring].ravel(), grey[:, -ring:].ravel()]
    )
    background = float(np.median(border))
    darker = background - float(grey.min())
    lighter = float(grey.max()) - background
    ink = background - grey if darker > lighter else grey - background
    contrast = max(darker, lighter)
    if contrast < 0.02:
        raise NoDigitFound("no digit found: the image is blank (a single flat colour)")
    if contrast < MIN_CONTRAST:
        raise NoDigitFound(f"no digit found: the ink is too faint ({contrast:.0%} contrast with the background)")
    return np.clip(ink / contrast, 0.0, 1.0)


def _runs(profile: np.ndarray) -> list[tuple[int, int, float]]:
    """Runs of consecutive non-zero entries of a 1-D profile: (start, stop, sum) each."""
    nonzero = np.concatenate([[False], profile > 0, [False]])
    edges = np.flatnonzero(nonzero[1:] != nonzero[:-1])
    return [(int(a), int(b), float(profile[a:b].sum())) for a, b in zip(edges[::2], edges[1::2])]


def _kept_span(profile: np.ndarray) -> tuple[int, int]:
    """The span (start, stop) of the runs of ``profile`` that are not specks."""
    runs = _runs(profile)
    total = sum(mass for _, _, mass in runs)
    kept = [(a, b) for a, b, mass in runs if mass >= SPECK_FRACTION * total] or [(a, b) for a, b, _ in runs]
    return min(a for a, _ in kept), max(b for _, b in kept)


def _digit_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right), bottom and right exclusive, of the digit in ``ink``.

    Only pixels of at least INK_THRESHOLD count; runs of rows or columns separated from the
    rest by empty ones and holding under SPECK_FRACTION of the ink are dropped as specks.
    """
    return _box_of_strong(np.where(ink >= INK_THRESHOLD, ink, 0))


def _box_of_strong(strong: np.ndarray) -> tuple[int, int, int, int]:
    """``_digit_box`` of the ink ``strong`` (h, w) with its faint pixels already zeroed."""
    top, left, bottom, right = 0, 0, *strong.shape
    sums = {"dtype": np.uint32} if strong.dtype == np.uint8 else {}  # uint8 sums would wrap
    for _ in range(3):  # dropping a speck in one direction can reveal one in the other
        window = strong[top:bottom, left:right]
        rows, cols = window.sum(axis=1, **sums), window.sum(axis=0, **sums)
        if not rows.any():
            raise NoDigitFound("no digit found: the image is blank")
        (r0, r1), (c0, c1) = _kept_span(rows), _kept_span(cols)
        if (r0, r1, c0, c1) == (0, bottom - top, 0, right - left):
            break
        top, left, bottom, right = top + r0, left + c0, top + r1, left + c1
    return top, left, bottom, right


# Directions over half a turn, every 5 degrees, along which the ink's length is measured: (2, 36).
_ANGLES = np.linspace(0, math.pi, 36, endpoint=False)
_DIRECTIONS = np.stack([np.cos(_ANGLES), np.sin(_ANGLES)])


def stroke_shape(ink: np.ndarray) -> tuple[float, float]:
    """(length, width) in pixels of the mark in ``ink`` (h, w), 0 = background: its length along
    its longest direction, and the width of the pen that drew it.

    The mark is the pixels of at least half the ink's maximum. Its width comes from its area A
    and perimeter P, modelling it as one stroke of width w along a centre line of length L, with
    round ends: A = wL + pi w^2 / 4 and P = 2L + pi w, so w = (P - sqrt(P^2 - 4 pi A)) / pi. This
    is the typical width, not that of the largest disc that fits in the ink: a filled loop or a
    blot where strokes meet does not make a bold digit's pen as wide as its loop, and a dot's
    width is its diameter. The perimeter is Crofton's estimate from the edges crossed along rows,
    columns and both diagonals, which follows curves and slopes (counting edge pixels measures a
    diagonal as a staircase).
    """
    values = np.asarray(ink)
    if values.size == 0 or not values.max() > 0:
        return 0.0, 0.0  # no mark at all
    h, w = values.shape
    mask = np.zeros((h + 2, w + 2), dtype=bool)  # the mark with a margin of background all round
    np.greater_equal(values, 0.5 * values.max(), out=mask[1:-1, 1:-1])
    area = float(np.count_nonzero(mask))
    straight = np.count_nonzero(mask[:, 1:] != mask[:, :-1]) + np.count_nonzero(mask[1:] != mask[:-1])
    diagonal = np.count_nonzero(mask[1:, 1:] != mask[:-1, :-1]) + np.count_nonzero(mask[1:, :-1] != mask[:-1, 1:])
    perimeter = math.pi / 8 * (straight + diagonal / math.sqrt(2))  # diagonal lines are 1/sqrt(2) apart
    # No shape is rounder than a disc (P^2 >= 4 pi A), but the estimate can make a dot slightly so.
    width = (perimeter - math.sqrt(max(perimeter**2 - 4 * math.pi * area, 0.0))) / math.pi
    # The first and last pixel of each row hold the mark's extreme points in every direction.
    rows = np.flatnonzero(mask.any(axis=1))
    inked = mask[rows]
    ends = np.empty((2 * rows.size, 2))
    ends[: rows.size, 0] = inked.argmax(axis=1)
    ends[rows.size :, 0] = inked.shape[1] - 1 - inked[:, ::-1].argmax(axis=1)
    ends[: rows.size, 1] = ends[rows.size :, 1] = rows
    projected = ends @ _DIRECTIONS
    spans = projected.max(axis=0) - projected.min(axis=0)
    return float(spans.max()) + 1.0, width  # + 1: the pixels at both ends count whole


def _refuse_marks(box: np.ndarray, image_shape: tuple[int, int]) -> None:
    """Raise ``NoDigitFound`` when the ink in the digit's box (h, w) is a dot or a dash (no digit
    is shorter than about two widths of its pen), or a speck in an image of ``image_shape``."""
    length, width = stroke_shape(box)
    if length < MIN_LENGTH_IN_WIDTHS * width:
        raise NoDigitFound(
            f"no digit found: the ink looks like a dot or a dash ({length:.0f} px long, {width:.0f} px wide), "
            "not a digit"
        )
    height, across = box.shape
    if max(height, across) < max(MIN_BOX_PIXELS, MIN_BOX_FRACTION * max(image_shape)):
        raise NoDigitFound(
            f"no digit found: the only ink is a {across}x{height} pixel mark "
            f"in a {image_shape[1]}x{image_shape[0]} image"
        )


def _scale(ink: np.ndarray, top: int, left: int, bottom: int, right: int) -> np.ndarray:
    """The box (with MARGIN output pixels of context) scaled so its longer side is BOX pixels.

    Pillow's Lanczos resize widens its kernel when shrinking, so it anti-aliases; the scale is the
    same on both axes (the output's size is rounded up, not the scale), so the aspect ratio is kept.
    Measured on canvas renderings of MNIST digits, Lanczos matched the originals slightly better
    than box, bilinear or bicubic filters.
    """
    height, width = bottom - top, right - left
    s = BOX / max(height, width)
    out_h, out_w = math.ceil(height * s) + 2 * MARGIN, math.ceil(width * s) + 2 * MARGIN
    pad = math.ceil((MARGIN + 1) / s) + 1
    # The box plus ``pad`` source pixels on each side, zeros beyond the image.
    crop = np.zeros((height + 2 * pad, width + 2 * pad), dtype=np.float32)
    y0, x0 = max(top - pad, 0), max(left - pad, 0)
    y1, x1 = min(bottom + pad, ink.shape[0]), min(right + pad, ink.shape[1])
    crop[y0 - top + pad : y1 - top + pad, x0 - left + pad : x1 - left + pad] = ink[y0:y1, x0:x1]
    cy, cx = pad + height / 2, pad + width / 2  # the box's centre in ``crop``
    source = (cx - out_w / (2 * s), cy - out_h / (2 * s), cx + out_w / (2 * s), cy + out_h / (2 * s))
    scaled = Image.fromarray(crop, mode="F").resize((out_w, out_h), Image.Resampling.LANCZOS, box=source)
    return np.clip(np.asarray(scaled, dtype=np.float32), 0.0, None)  # Lanczos rings a little below 0


def _centre(patch: np.ndarray) -> np.ndarray:
    """Place ``patch`` (h, w) in a SIDE x SIDE float32 field with its centre of mass at TARGET_CENTRE.

    The fractional part of the shift is a bilinear interpolation, which moves the centre of
    mass by exactly that fraction. Being separable, the shift is a product of two small
    matrices, one moving the rows and one the columns, that also clip it to the field.
    """
    patch = np.asarray(patch, dtype=np.float32)
    row_mass, col_mass = patch.sum(axis=1), patch.sum(axis=0)
    total = float(row_mass.sum())
    com_r = float(row_mass @ np.arange(patch.shape[0], dtype=np.float32)) / total
    com_c = float(col_mass @ np.arange(patch.shape[1], dtype=np.float32)) / total
    rows = _shift_matrix(patch.shape[0], TARGET_CENTRE[0] - com_r)
    cols = _shift_matrix(patch.shape[1], TARGET_CENTRE[1] - com_c)
    return rows @ patch @ cols.T


def _shift_matrix(n: int, shift: float) -> np.ndarray:
    """(SIDE, n) float32 that moves a length-n vector by ``shift`` (bilinear), cut to SIDE entries:
    entry i goes to i + floor(shift) with weight 1 - frac(shift), and to the next with frac(shift)."""
    whole = math.floor(shift)
    part = shift - whole
    matrix = np.eye(SIDE, n, k=-whole, dtype=np.float32)
    matrix *= 1 - part
    matrix += np.float32(part) * np.eye(SIDE, n, k=-whole - 1, dtype=np.float32)
    return matrix
