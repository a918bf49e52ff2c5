"""model/segment.py: how the ink of a number is split into digits (strokes kept together, specks
ignored, touching digits split, too many refused), on ink drawn here with a round pen."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from model import segment
from model.preprocess import NoDigitFound, _digit_box, ink_to_mnist
from model.segment import MAX_DIGITS, TooManyDigits, split_digits

H = 100  # the digits' height in pixels


def pen(ink: np.ndarray, points: list[tuple[float, float]], width: float = 10.0) -> None:
    """Draw a polyline through ``points`` (x, y) into ``ink`` (h, w) with a round pen, anti-aliased."""
    y, x = np.mgrid[0 : ink.shape[0], 0 : ink.shape[1]] + 0.5
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((x - x0) * dx + (y - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
        d = np.hypot(x - (x0 + t * dx), y - (y0 + t * dy))
        np.maximum(ink, np.clip(width / 2 - d + 0.5, 0, 1), out=ink)


def canvas(width: int) -> np.ndarray:
    return np.zeros((H + 60, width), dtype=np.float32)


def one(ink: np.ndarray, left: float) -> None:
    pen(ink, [(left, 30), (left, 30 + H)])


def four_in_two_strokes(ink: np.ndarray, left: float) -> None:
    pen(ink, [(left + 10, 30), (left, 90), (left + 60, 90)])  # the open corner
    pen(ink, [(left + 45, 50), (left + 45, 30 + H)])  # the upright, apart from it


def five_in_two_strokes(ink: np.ndarray, left: float) -> None:
    pen(ink, [(left + 12, 32), (left + 8, 70), (left + 40, 66), (left + 55, 90), (left + 45, 122), (left, 125)])
    pen(ink, [(left + 18, 30), (left + 62, 30)])  # the bar, lifted off


def seven_with_a_crossbar(ink: np.ndarray, left: float) -> None:
    pen(ink, [(left, 30), (left + 60, 30), (left + 22, 30 + H)])
    pen(ink, [(left + 22, 80), (left + 58, 80)])  # the crossbar, clear of the stroke... almost
    ink[78:83, left + 28 : left + 34] = 0  # a gap, as a quick pen leaves


def zero(ink: np.ndarray, left: float) -> None:
    t = np.linspace(0, 2 * np.pi, 60)
    pen(ink, [(left + 30 + 28 * np.sin(a), 30 + H / 2 - 48 * np.cos(a)) for a in t])


def classify(net_images: np.ndarray) -> np.ndarray:
    """A stand-in classifier for the mechanics: confident of a 1 for everything."""
    out = np.full((len(net_images), 10), 0.001)
    out[:, 1] = 0.991
    return out


def by_shape(images: np.ndarray, features: np.ndarray) -> np.ndarray:
    """A stand-in verifier for the mechanics: a piece as wide as high or narrower, and nearly as
    high as a digit, is one digit."""
    width, height = features[:, 0], features[:, 1]
    return np.where((width <= 1.2) & (height >= 0.7), 0.95, 0.02)


@pytest.fixture(scope="module")
def network():
    from model.network import DEFAULT_WEIGHTS, Network

    net = Network.load(DEFAULT_WEIGHTS)
    return lambda images: net.predict_proba(images.reshape(len(images), -1).T).T.astype(np.float64)


@pytest.fixture(scope="module")
def judge():
    from model.verifier import load_verifier, one_digit_probability

    net = load_verifier()
    return lambda images, features: one_digit_probability(net, images, features)


@pytest.mark.parametrize("draw", [four_in_two_strokes, five_in_two_strokes, seven_with_a_crossbar])
def test_a_digit_in_two_strokes_stays_one_digit_between_neighbours(draw, network, judge) -> None:
    ink = canvas(400)
    one(ink, 40)
    draw(ink, 150)
    one(ink, 320)
    pieces = split_digits(ink, network, judge)
    assert len(pieces) == 3, [p.box for p in pieces]
    x0, _, x1, _ = pieces[1].box
    assert x0 <= 150 + 5 and x1 >= 150 + 40, pieces[1].box  # both strokes in the middle digit's box


def test_a_dotted_stroke_stays_one_digit() -> None:
    ink = canvas(300)
    for top in range(30, 30 + H, 16):  # a 1 of dots
        pen(ink, [(150, top), (150, top + 6)])
    zero(ink, 30)
    pieces = split_digits(ink, classify, by_shape)
    assert len(pieces) == 2
    x0, y0, x1, y1 = pieces[1].box
    assert x0 < 150 < x1 and y1 - y0 > 0.8 * H


def test_specks_are_ignored_and_order_is_left_to_right() -> None:
    ink = canvas(400)
    zero(ink, 250)
    one(ink, 60)
    one(ink, 160)
    ink[5:8, 380:383] = 1.0  # a speck in a corner
    ink[140:143, 110:113] = 1.0  # and one between digits
    pieces = split_digits(ink, classify, by_shape)
    assert len(pieces) == 3
    lefts = [p.box[0] for p in pieces]
    assert lefts == sorted(lefts) and lefts[0] < 60 < lefts[1] < 160 < lefts[2] < 250 + 5


def test_touching_digits_are_split(network, judge) -> None:
    ink = canvas(300)
    zero(ink, 30)
    zero(ink, 92)  # the first's right side overlaps the second's left by 4 px of the 10 px pen
    one(ink, 200)
    pieces = split_digits(ink, network, judge)
    assert len(pieces) == 3, [p.box for p in pieces]
    assert [int(p.probabilities.argmax()) for p in pieces] == [0, 0, 1]
    assert pieces[0].box[2] < pieces[1].box[2] and pieces[0].box[2] <= 100 <= pieces[1].box[2]


def vee(ink: np.ndarray, left: float) -> None:
    """Two strokes that meet at the bottom: as narrow as one digit, and maybe two."""
    pen(ink, [(left, 30), (left + 35, 30 + H), (left + 70, 30)])


@pytest.mark.parametrize(("gain", "count"), [(segment.SPLIT_MARGIN - 1, 1), (segment.SPLIT_MARGIN + 1, 2)])
def test_a_narrow_group_the_verifier_doubts_is_cut_only_when_the_pieces_score_clearly_more(gain, count) -> None:
    """A group no wider than CUT_ASPECT times its height, and wider than NARROW, that the verifier
    doubts is one digit (P(one) under DOUBT_ONE) is tried in pieces; they are kept only when they
    score SPLIT_MARGIN nats more than the group read whole. Here each half of the vee is surely one
    digit, and the whole is given a probability that puts the two halves ``gain`` nats above it."""
    ink = canvas(200)
    vee(ink, 60)
    confident = segment.CONFIDENCE * np.log(classify(ink[None])[0].max())
    half = np.log(0.95) + confident  # the score of each half
    whole = np.exp(2 * half - gain - confident)  # log(whole) + confident = 2 * half - gain
    assert segment.PROB_FLOOR < whole < segment.DOUBT_ONE

    def halves(images: np.ndarray, features: np.ndarray) -> np.ndarray:
        return np.where(features[:, 0] < segment.NARROW, 0.95, whole)

    pieces = split_digits(ink, classify, halves)
    assert len(pieces) == count, [p.box for p in pieces]
    if count == 2:  # the left arm and the right one (the cut runs down between them)
        (l0, _, l1, _), (r0, _, r1, _) = (p.box for p in pieces)
        assert l0 <= 60 and l1 <= 60 + 40 and r0 >= 60 + 15 and r1 >= 60 + 70, [p.box for p in pieces]


def wide_vee(ink: np.ndarray, left: float) -> None:
    """A vee wider than CUT_ASPECT times its height, and no wider than a piece may be (MAX_PIECE H):
    a sprawling digit, or two."""
    pen(ink, [(left, 30), (left + 64, 30 + H), (left + 128, 30)])


@pytest.mark.parametrize(("gain", "count"), [(segment.WIDE_MARGIN - 1, 1), (segment.WIDE_MARGIN + 1, 2)])
def test_a_wide_group_that_may_be_one_digit_is_cut_only_when_the_pieces_score_clearly_more(gain, count) -> None:
    """A group wider than CUT_ASPECT times its height that could still be one piece (no wider than
    MAX_PIECE H, not joined) keeps its cut only when the pieces score WIDE_MARGIN nats more than
    the group read whole (a sprawling single digit the verifier doubts). Each arm of the vee is
    surely one digit here, and the whole is given a probability ``gain`` nats below the two arms."""
    ink = canvas(240)
    wide_vee(ink, 50)
    top, left, bottom, right = _digit_box(ink)
    assert segment.CUT_ASPECT < (right - left) / (bottom - top) < segment.MAX_PIECE
    confident = segment.CONFIDENCE * np.log(classify(ink[None])[0].max())
    arm = np.log(0.95) + confident
    whole = np.exp(2 * arm - gain - confident)
    assert whole > segment.PROB_FLOOR

    def arms(images: np.ndarray, features: np.ndarray) -> np.ndarray:
        return np.where(features[:, 0] < 1.0, 0.95, whole)

    pieces = split_digits(ink, classify, arms)
    assert len(pieces) == count, [p.box for p in pieces]
    if count == 2:
        (l0, _, l1, _), (r0, _, r1, _) = (p.box for p in pieces)
        assert l0 <= 50 < l1 <= r0 + 20 and r0 < 50 + 128 <= r1, [p.box for p in pieces]


@pytest.mark.parametrize(("sure", "whole"), [(segment.SURE_ONE, True), (segment.SURE_ONE - 0.1, False)])
def test_a_group_too_wide_for_one_piece_is_one_digit_when_the_verifier_is_sure(sure, whole) -> None:
    """A group wider than MAX_PIECE H cannot be read as one piece of its cuts; when the verifier
    takes it, read whole, for one digit with at least SURE_ONE, it is one digit, however wide."""
    ink = canvas(300)
    pen(ink, [(40, 30), (120, 30 + H), (200, 30)])
    top, left, bottom, right = _digit_box(ink)
    assert (right - left) / (bottom - top) > segment.MAX_PIECE

    def whole_or_arms(images: np.ndarray, features: np.ndarray) -> np.ndarray:
        width = features[:, 0]  # in H: the whole, an arm, or a sliver
        return np.where(width > segment.MAX_PIECE, sure, np.where(width >= 0.5, 0.95, 0.01))

    pieces = split_digits(ink, classify, whole_or_arms)
    boxes = [p.box for p in pieces]
    assert (boxes == [(left, top, right, bottom)]) if whole else (len(pieces) >= 2), boxes


def test_more_than_max_digits_is_refused_cheaply() -> None:
    calls = []

    def counting(images: np.ndarray) -> np.ndarray:
        calls.append(len(images))
        return classify(images)

    ink = np.zeros((160, 40 * 1000), dtype=np.float32)
    for k in range(1000):
        ink[30:130, 40 * k + 15 : 40 * k + 23] = 1.0
    with pytest.raises(TooManyDigits, match=str(MAX_DIGITS)):
        split_digits(ink, counting, by_shape)
    assert sum(calls) <= MAX_DIGITS + 1  # refused while counting, not after reading them all
    at_limit = np.zeros((160, 40 * MAX_DIGITS), dtype=np.float32)
    at_limit[:, :] = ink[:, : 40 * MAX_DIGITS]
    assert len(split_digits(at_limit, classify, by_shape)) == MAX_DIGITS
    assert issubclass(TooManyDigits, segment.ImageError)


def test_ink_too_wide_for_max_digits_is_refused_before_it_is_read() -> None:
    def unread(*_: np.ndarray) -> np.ndarray:
        raise AssertionError("read before it was refused")

    # One stroke that zigzags along the whole line: one group, no gap between its "digits", twice as
    # wide as MAX_DIGITS pieces could be.
    width = round(2 * MAX_DIGITS * segment.MAX_PIECE * H)
    ink = np.zeros((H + 60, width + 40), dtype=np.float32)
    pen(ink, [(20 + x, 30 + H * (x // 10 % 2)) for x in range(0, width + 1, 10)])
    with pytest.raises(TooManyDigits, match=str(MAX_DIGITS)):
        split_digits(ink, unread, unread)
    # A third of it is read (and then it is whatever it is).
    with pytest.raises(AssertionError, match="read before"):
        split_digits(ink[:, : width // 3].copy(), unread, unread)


def test_a_single_digit_is_one_piece_with_ink_to_mnists_box_and_image() -> None:
    ink = canvas(200)
    zero(ink, 60)
    ink[2:4, 2:4] = 1.0  # a speck ink_to_mnist drops too
    (piece,) = split_digits(ink, classify, by_shape)
    top, left, bottom, right = _digit_box(ink)
    assert piece.box == (left, top, right, bottom)
    np.testing.assert_array_equal(piece.image, ink_to_mnist(ink))


def test_blank_and_specks_only_are_no_digit() -> None:
    with pytest.raises(NoDigitFound):
        split_digits(np.zeros((50, 50), np.float32), classify, by_shape)
    ink = np.zeros((200, 200), np.float32)
    ink[10:12, 10:12] = 1.0
    with pytest.raises(NoDigitFound):
        split_digits(ink, classify, by_shape)


def test_any_scribble_gives_digits_or_a_documented_error() -> None:
    # Random strokes of random sizes, some tall and leaning, some tiny: the cuts' paths must stay
    # inside the ink however their lines lean (a path leaning out of a small group once indexed
    # past the end).
    rng = np.random.default_rng(11)
    for _ in range(40):
        ink = np.zeros((int(rng.integers(40, 300)), int(rng.integers(40, 500))), np.float32)
        for _ in range(int(rng.integers(1, 8))):
            points = [(float(rng.uniform(0, ink.shape[1])), float(rng.uniform(0, ink.shape[0]))) for _ in range(3)]
            pen(ink, points, width=float(rng.uniform(2, 14)))
        try:
            pieces = split_digits(ink, classify, by_shape)
        except segment.ImageError:
            continue
        assert 1 <= len(pieces) <= MAX_DIGITS
        assert all(p.image.shape == (28, 28) for p in pieces)
