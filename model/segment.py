"""Splitting the ink of a written number into its digits, left to right.

``split_digits(ink, classify, verify)`` takes ``model.preprocess.ink_map``'s (h, w) ink, the digit
classifier and the one-digit verifier (``model.verifier``) and returns one ``Piece`` per digit: its
28x28 MNIST form, what the classifier reads in it, and its box.

1. **Working size.** The ink is shrunk by a whole factor so the ink's height is about
   ``WORK_HEIGHT`` pixels (grouping and cutting cost little there, and the cuts' pieces are still
   read from more pixels than MNIST's 20 px box).
2. **Components.** The pixels with any ink (``LOW``) are labelled into 8-connected components,
   run by run, in NumPy. The typical digit height ``H`` is the median height of the components
   with at least a tenth of the largest one's ink.
3. **Groups.** Components at least ``TALL`` H high are swept left to right; one that shares at
   least ``MERGE_OVERLAP`` of the narrower one's columns with the group before it joins it (a 4,
   5 or 7 drawn in two strokes; MNIST digits with a broken stroke). A shorter component joins the
   group whose columns it overlaps or comes within ``ATTACH`` H of (across and up or down), the one
   whose centre is nearest across (a 5's bar, the dots of a dotted stroke); those left over are
   clustered by their columns, and a cluster as tall or wide as half a digit is a digit of its own
   (a wholly dotted stroke); the rest are specks and ignored. A thin group (``THIN`` H) within
   ``JOIN_GAP`` H of its neighbour is joined to it, and the cuts decide (a broken stroke, or a 1).
   More than ``MAX_DIGITS`` groups is refused with ``TooManyDigits``, counted as the sweep goes
   so that a thousand digits cost little; so is ink wider in all than ``MAX_DIGITS`` pieces
   ``MAX_PIECE`` H wide, before any cut is tried.
4. **One digit or several.** Every group is read whole first (all in one batch, through both
   networks). A group that was not joined is one digit when the verifier takes it for one digit
   with at least ``SURE_ONE``, however wide, or when it is no wider than ``CUT_ASPECT`` times its
   own height, unless it is also wider than ``NARROW`` H and the verifier gives it P(one digit)
   under ``DOUBT_ONE`` (a 1 touching its neighbour): then it is cut too, and the cut kept only
   when its pieces score ``SPLIT_MARGIN`` nats more than the whole. A digit is read again from
   the full-size ink (as ``read_digit`` reads a digit: the working size is for finding and
   cutting digits, not for reading them). A lone digit is read from the whole ink at full size,
   so that it reads exactly as ``read_digit`` reads it.
5. **Cuts.** In the other groups (digits that touch or overlap a little), candidate cuts start at
   the columns where the ink's vertical profile has a local minimum, and every ``GRID_STEP`` H
   between; each becomes a top-to-bottom path through the thinnest ink near a centre line through
   that column, leaning by each of ``SLOPES`` (digits lean), running sideways along a row where
   that saves ink, and paying ``DEVIATION`` per pixel for straying ``PATH_BAND`` H from the line;
   the cheapest lean is kept. So a cut can pass between slanted digits, under a 7's bar, through
   the point where they touch.
6. **Choice.** Every run of consecutive cut intervals no wider than ``MAX_PIECE`` H is a candidate
   piece; all candidates go through each network in one batch. A piece scores log P(one whole
   digit) from the verifier (``model.verifier``: its 28x28 form, its size in H and the ink its
   cuts cross) + ``CONFIDENCE`` x the log of the classifier's top probability, + ``PIECE_BONUS``
   per piece in a wide group wider than ``MAX_PIECE`` H; a dynamic programme picks the
   segmentation with the highest total. A wide group that could be one piece (no wider than
   ``MAX_PIECE`` H) keeps its cut only when the pieces score ``WIDE_MARGIN`` nats more than the
   group read whole (a sprawling single digit). (The classifier alone is a poor judge: it reads two
   squashed digits, and half a digit, as one confident digit.)

NumPy and Pillow (through ``model.preprocess``) only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from model.preprocess import INK_THRESHOLD, ImageError, NoDigitFound, _digit_box, box_to_mnist, ink_to_mnist

MAX_DIGITS = 12  # a number with more digits than this is refused (TooManyDigits)

WORK_HEIGHT = 64  # the ink is shrunk by a whole factor until its inked rows are at most about this many
LOW = 0.05  # ink above this belongs to a component (the strokes' soft edges with them)
TALL = 0.55  # a component at least this many H high can start a group (every digit is; a 5's bar is not)
MERGE_OVERLAP = 0.5  # components sharing this fraction of the narrower one's columns are one digit
ATTACH = 0.12  # a short component this close (in H) to a group's columns is part of that digit
CLUSTER_GAP = 0.15  # left-over small components this close (in H) across columns form a cluster
CLUSTER_SIZE = 0.5  # ... which is a digit when it is this tall or wide (in H); otherwise specks
# A group no wider than this (in H), unless joined, is a thin digit or a stroke: it is not cut on the
# verifier's doubt (DOUBT_ONE), and its training leaves it out (model.verifier_train).
NARROW = 0.5
THIN = 0.3  # a group this narrow (in H) ...
JOIN_GAP = 0.25  # ... this close to its neighbour (in H) is joined to it, and the cuts decide
# A group no wider than this many times its own height (and not joined) is one digit: no cuts are
# tried. Of 20,000 MNIST training digits 4 % are wider than 1.2 times their height, and the verifier
# keeps most of those whole; two digits side by side are mostly wider. (Chosen on generated numbers
# of seed 5: 1.1, 1.2 and 1.3 gave apart numbers -0.0, +0.3 and +0.7 points and touching ones
# 60 %, 58 % and 52 %; the tests use other seeds.) 1.0, with MIN_PIECE 0.08, GRID_STEP 0.07 and
# the verifier retrained for those cuts, read touching numbers 6-12 points better on seeds 0, 1
# and the test's, and apart ones 0.8-2.0 points worse: wide single digits (a 0, an 8) cut in two.
CUT_ASPECT = 1.2
# A wider group (not joined) that the verifier takes for one digit with at least this probability is
# one digit too, however wide. (Of the groups of generated numbers of seeds 5 and 6 wider than
# MAX_PIECE H, 7 of 14 single digits had that, and none of 1,672 groups of two digits or more had even
# 0.5. Such a group cannot be one piece, so cut it would be read as two digits or more.)
SURE_ONE = 0.9
# A group no wider than CUT_ASPECT times its height (but wider than NARROW) is one digit too, unless
# the verifier gives it P(one digit) under DOUBT_ONE: a 1 touching its neighbour, or two narrow
# digits, fit in one digit's width. Its cuts are tried then, and kept only when its pieces score
# SPLIT_MARGIN nats more than the group read whole. (Chosen on generated numbers of seeds 5 and 6:
# cut this way, touching numbers read 7.0 and 7.4 points better. Of 1,000 apart numbers of seed 6,
# a margin of 3 kept such a cut in 7 numbers that were then misread; a margin of 6, in 1.)
DOUBT_ONE = 0.5
SPLIT_MARGIN = 6.0
# A wide group (CUT_ASPECT) that was not joined and is no wider than MAX_PIECE H, so that it may be one
# digit read whole, keeps its cut only when the pieces score this many nats more than the whole: the
# verifier doubts some sprawling single digits (a wide 2, 3 or 7 gets P(one) of 0.001-0.09), and their
# halves each look like a digit. (Chosen on generated numbers of seeds 5 and 6: 10 single digits of
# apart numbers were cut, with margins of 0.3-7.9 nats; 152 groups of two touching digits beat their
# whole by 2.0, 5.0, 5.3, 5.8 and then 6.8 nats or more. 4 keeps 7 of the singles whole and 1 of the
# pairs. The same margin for joined groups (a thin stroke and its neighbour) lost 2 apart numbers on
# each of seeds 0 and 1: a 1 next to its neighbour kept with it.)
WIDE_MARGIN = 4.0
CONFIDENCE = 0.3  # the weight of the classifier's log probability against the verifier's in a piece's score
MIN_PIECE = 0.15  # cuts are at least this far (in H) from the group's ink edges
# ... and start at least this far from each other (in H). (Chosen on generated numbers of seeds 5 and
# 6: with 0.1, the pieces of 86 % of seed 5's touching numbers could hold each digit whole, with 0.07
# 93 %, with 0.05 95 %, with 0.03 no more. At 0.07 touching numbers read 4.8 and 3.4 points better
# than at 0.1 and apart ones the same; 0.05 read seed 5's 0.8 points better still, but a number of 12
# touching digits took about 2 s there, 0.4 s at 0.07 and 0.16 s at 0.1.) The verifier is trained on
# the cuts of model.verifier_train's TRAIN_GRID_STEP.
GRID_STEP = 0.07
MAX_PIECE = 1.35  # a candidate piece is at most this wide (in H)
# Nats added to each piece's score in a wide group (CUT_ASPECT) wider than MAX_PIECE H, which likely
# holds two digits or more.
# (Chosen on generated numbers of seeds 5, 6 and 7: touching numbers read 2.6, 3.0 and 1.7 points
# better, apart ones the same; 2 nats gave 3.0, 1.4 and 0.3, and cost apart numbers 0.4 on seed 5.)
PIECE_BONUS = 1.0
SLOPES = (-0.4, -0.2, 0.0, 0.2, 0.4)  # columns per row: the leans of the cuts' centre lines
PATH_BAND = 0.4  # a cut's path stays within this distance (in H) of its centre line ...
DEVIATION = 1.0  # ... and pays this much ink per pixel for straying that far (ink is at most 1 per pixel)
SIDE_STEP = 0.05  # what each pixel of a path costs beyond its ink: a path goes sideways only to save ink
OUTSIDE = 1e6  # the cost of a path's pixel outside the group's crop
SKIP_PENALTY = 100.0  # nats for leaving a cut interval out: only ink that no piece could read
PROB_FLOOR = 1e-4  # probabilities are clipped here before the log


class TooManyDigits(ImageError):
    """The image holds more than MAX_DIGITS digits."""


@dataclass(frozen=True)
class Piece:
    """One digit found in the ink."""

    image: np.ndarray  # (28, 28) float32 in [0, 1]: ink_to_mnist of this digit's ink alone
    probabilities: np.ndarray  # (10,) float64, what the classifier reads in ``image``
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) in the ink map's pixels, x1/y1 exclusive


# A classifier: (n, 28, 28) float32 images -> (n, 10) probabilities of each digit.
Classifier = Callable[[np.ndarray], np.ndarray]
# A verifier: (n, 28, 28) float32 images and their (n, FEATURES) shapes -> (n,) the probability
# that each is exactly one whole digit.
Verifier = Callable[[np.ndarray, np.ndarray], np.ndarray]
# A piece's shape beside its image: width / H, height / H, log(width / height), and the ink its
# left and right cuts go through, in H (0 at the group's own edges: a cut between two digits that
# touch crosses little ink, one through a digit crosses a whole stroke).
FEATURES = 5


@dataclass(frozen=True)
class Group:
    """One group's ink at the working size: a crop of the shrunk ink with only its components' ink."""

    ink: np.ndarray  # (h, w) float32, the group's ink, 0 elsewhere
    top: int  # the crop's place in the shrunk ink
    left: int
    width: int  # the columns its strong ink (INK_THRESHOLD) spans
    members: list[int]  # its components
    joined: bool  # whether it is a thin stroke and its neighbour joined (``_join_thin``): cut or not


@dataclass(frozen=True)
class Candidates:
    """The candidate pieces of one group: each a run of cut intervals (i, j), its ink's 28x28 form,
    its box in the group's crop (x0, y0, x1, y1, ends exclusive) and which crop pixels it holds."""

    intervals: int  # k, the number of cut intervals
    spans: list[tuple[int, int]]  # (i, j): intervals i .. j - 1
    images: np.ndarray  # (n, 28, 28) float32
    features: np.ndarray  # (n, FEATURES) float32, ``shape_features`` of each
    boxes: list[tuple[int, int, int, int]]
    bounds: list[np.ndarray]  # k + 1 (h,) arrays: interval i is columns bounds[i] .. bounds[i + 1] - 1 in each row
    width: int  # the crop's width

    def mask(self, n: int) -> np.ndarray:
        """(h, w) bool: the crop pixels that candidate ``n`` holds."""
        i, j = self.spans[n]
        columns = np.arange(self.width)[None, :]
        return (columns >= self.bounds[i][:, None]) & (columns < self.bounds[j][:, None])


def split_digits(ink: np.ndarray, classify: Classifier, verify: Verifier) -> list[Piece]:
    """``ink`` (h, w) float32 in [0, 1], 0 = background -> its digits, left to right.

    Raises ``NoDigitFound`` when no piece of the ink is a digit, ``TooManyDigits`` when there are
    more than MAX_DIGITS.
    """
    ink = np.asarray(ink, dtype=np.float32)
    factor = work_factor(ink)
    groups, typical, _ = find_groups(_reduce(ink, factor))
    # Every digit is cut at most MAX_PIECE H wide, so ink wider than MAX_DIGITS such pieces holds
    # more digits than are read: refused before any cut is tried (a long scribble costs nothing).
    if sum(group.width for group in groups) > MAX_DIGITS * MAX_PIECE * typical:
        raise _too_many()
    # First every group whole, all in one batch through each network.
    wholes: list[tuple[Group, np.ndarray, tuple[int, int, int, int]]] = []
    for group in groups:
        try:
            top, left, bottom, right = _digit_box(group.ink)
            wholes.append((group, ink_to_mnist(group.ink), (left, top, right, bottom)))
        except NoDigitFound:  # a group of marks (a dash, a dot) is not a digit
            continue
    if not wholes:
        raise NoDigitFound("no digit found: the ink looks like dots or dashes, not digits")
    images = np.stack([image for _, image, _ in wholes])
    probabilities = np.asarray(classify(images), dtype=np.float64)
    wide = {n for n, (group, _, _) in enumerate(wholes) if group.joined or _aspect(group) > CUT_ASPECT}
    one = np.asarray(verify(images, shape_features([box for _, _, box in wholes], typical)), dtype=np.float64)
    # Then the candidate pieces of the groups that may hold more than one digit, in one batch.
    unsure = [
        n
        for n, (group, _, _) in enumerate(wholes)
        if (n in wide and (group.joined or one[n] < SURE_ONE))
        or (one[n] < DOUBT_ONE and group.width > NARROW * typical)
    ]
    found = [candidates(wholes[n][0], typical) for n in unsure]
    cut: dict[int, list[Piece]] = {}
    if found:
        all_images = np.concatenate([c.images for c in found])
        all_p = np.asarray(classify(all_images), dtype=np.float64)
        all_one = np.asarray(verify(all_images, np.concatenate([c.features for c in found])), dtype=np.float64)
        # (A penalty per piece, or per unit of ink a cut crosses, lost more on touching digits
        # than it won on apart ones, measured on calibration numbers.)
        score = np.log(np.clip(all_one, PROB_FLOOR, 1.0)) + CONFIDENCE * np.log(
            np.clip(all_p.max(axis=1), PROB_FLOOR, 1.0)
        )
        # Rather than that penalty, a bonus per piece in a group too wide to be one piece: each piece's
        # log probability is at most 0, so the total favours fewer pieces, and a 1 joined to its
        # neighbour would be read with it as a single digit.
        score += np.concatenate(
            [
                np.full(len(c.spans), PIECE_BONUS * (n in wide and wholes[n][0].width > MAX_PIECE * typical))
                for n, c in zip(unsure, found)
            ]
        )
        at = 0
        for n, c in zip(unsure, found):
            m = len(c.spans)
            chosen = _choose(c.intervals, c.spans, score[at : at + m]) if m else []
            if n in wide and (wholes[n][0].joined or (0, c.intervals) not in c.spans):
                pass  # joined, or too wide to be one piece: the pieces as chosen
            elif not _beats_whole(
                chosen, c.spans, c.intervals, score[at : at + m], WIDE_MARGIN if n in wide else SPLIT_MARGIN
            ):
                chosen = []
            if chosen and [c.spans[i] for i in chosen] != [(0, c.intervals)]:
                cut[n] = [Piece(c.images[i], all_p[at + i], c.boxes[i]) for i in chosen]
            at += m
    # A group read whole is read again at full size, as read_digit reads a digit: the working size
    # is for finding and cutting digits, not for reading them.
    whole = [n for n in range(len(wholes)) if n not in cut]
    sharp = {n: _at_full_size(ink, wholes[n][0], factor) for n in whole}
    sharp = {n: found for n, found in sharp.items() if found is not None}
    if sharp:
        again = np.asarray(classify(np.stack([image for image, _ in sharp.values()])), dtype=np.float64)
        for (n, (image, box)), p in zip(sharp.items(), again):
            cut[n] = [Piece(image, p, box)]
    pieces: list[Piece] = []
    for n, (group, image, box) in enumerate(wholes):
        if n in sharp:
            pieces.append(cut[n][0])
            if len(pieces) > MAX_DIGITS:
                raise _too_many()
            continue
        for piece in cut.get(n, [Piece(image, probabilities[n], box)]):
            x0, y0, x1, y1 = piece.box
            full = (
                (x0 + group.left) * factor,
                (y0 + group.top) * factor,
                min(ink.shape[1], (x1 + group.left) * factor),
                min(ink.shape[0], (y1 + group.top) * factor),
            )
            pieces.append(Piece(piece.image, piece.probabilities, full))
        if len(pieces) > MAX_DIGITS:
            raise _too_many()
    if len(pieces) == 1:
        # One digit, perhaps among marks that are not digits: the whole ink at full size, as
        # to_mnist reads it, so that it reads exactly as read_digit reads it.
        image = ink_to_mnist(ink)
        top, left, bottom, right = _digit_box(ink)
        probabilities = np.asarray(classify(image[None]), dtype=np.float64)[0]
        return [Piece(image, probabilities, (left, top, right, bottom))]
    # Left to right by the boxes' centres: groups are ordered by theirs, and the pieces of a cut
    # group can reach past a neighbouring group's centre (a dash above the start of a long group).
    return sorted(pieces, key=lambda piece: piece.box[0] + piece.box[2])


def _beats_whole(chosen: list[int], spans: list[tuple[int, int]], k: int, score: np.ndarray, margin: float) -> bool:
    """Whether the pieces ``chosen`` (indices into ``spans``) score ``margin`` nats more than the
    whole group, the candidate (0, k), read as one digit (False when that is no candidate)."""
    if (0, k) not in spans:
        return False
    return float(score[chosen].sum()) >= float(score[spans.index((0, k))]) + margin


def _at_full_size(ink: np.ndarray, group: Group, factor: int) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """``group``'s ink taken from the full-size ``ink`` (its working-size pixels, and one more all
    round for the soft edges, each ``factor`` pixels a side): its 28x28 form and its box (x0, y0,
    x1, y1) in ``ink``'s pixels; None when that is no digit."""
    own = group.ink > 0
    grown = own.copy()
    grown[1:] |= own[:-1]
    grown[:-1] |= own[1:]
    grown[:, 1:] |= grown[:, :-1].copy()
    grown[:, :-1] |= grown[:, 1:].copy()
    mask = np.repeat(np.repeat(grown, factor, axis=0), factor, axis=1)
    top, left = group.top * factor, group.left * factor
    crop = ink[top : top + mask.shape[0], left : left + mask.shape[1]]
    piece = np.where(mask[: crop.shape[0], : crop.shape[1]], crop, 0).astype(np.float32)
    try:
        y0, x0, y1, x1 = _digit_box(piece)
        return ink_to_mnist(piece), (x0 + left, y0 + top, x1 + left, y1 + top)
    except NoDigitFound:
        return None


def _aspect(group: Group) -> float:
    """The width over the height of ``group``'s strong ink (INK_THRESHOLD)."""
    rows = np.flatnonzero((group.ink >= INK_THRESHOLD).any(axis=1))
    return group.width / max(1, rows[-1] + 1 - rows[0]) if rows.size else 0.0


def _too_many() -> TooManyDigits:
    return TooManyDigits(f"the image holds more than {MAX_DIGITS} digits; write a number of at most {MAX_DIGITS}")


def work_factor(ink: np.ndarray) -> int:
    """The whole factor by which ``ink`` (h, w) is shrunk so its strong ink's rows number about
    WORK_HEIGHT or fewer (1 for ink already that small)."""
    rows = np.flatnonzero((ink >= INK_THRESHOLD).any(axis=1))
    if rows.size == 0:
        return 1
    return max(1, math.ceil((rows[-1] + 1 - rows[0]) / WORK_HEIGHT))


# -------------------------------------------------------------------------------------------
# Connected components
# -------------------------------------------------------------------------------------------


@dataclass
class _Components:
    """8-connected components of a mask, as runs of pixels along rows."""

    count: int
    run_row: np.ndarray  # (runs,) the row of each run
    run_start: np.ndarray  # (runs,) its first column
    run_stop: np.ndarray  # (runs,) one past its last column
    run_label: np.ndarray  # (runs,) its component, 0 .. count - 1
    x0: np.ndarray  # (count,) each component's box, x1/y1 exclusive
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    mass: np.ndarray  # (count,) the sum of its ink

    def pixel_labels(self, shape: tuple[int, int]) -> np.ndarray:
        """(h, w) int32: each pixel's component, -1 outside them all."""
        out = np.full(shape[0] * shape[1], -1, dtype=np.int32)
        lengths = self.run_stop - self.run_start
        first = np.repeat(self.run_row * shape[1] + self.run_start - np.cumsum(lengths) + lengths, lengths)
        out[first + np.arange(int(lengths.sum()))] = np.repeat(self.run_label, lengths)
        return out.reshape(shape)


def _components(mask: np.ndarray, ink: np.ndarray) -> _Components:
    """The 8-connected components of ``mask`` (h, w) bool, with their boxes and the sum of ``ink``."""
    h, w = mask.shape
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)  # (h, w + 1)
    row, start = np.nonzero(edges == 1)  # row-major, so starts and stops pair up
    _, stop = np.nonzero(edges == -1)
    n = row.size
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Components(0, empty, empty, empty, empty, empty, empty, empty, empty, np.zeros(0))
    # Runs in consecutive rows touch (8-connected) when their column ranges come within one.
    stride = w + 2
    start_key, stop_key = row * stride + start, row * stride + stop
    above = (row - 1) * stride
    first = np.searchsorted(stop_key, above + start, side="left")
    last = np.searchsorted(start_key, above + stop, side="right")
    counts = np.maximum(last - first, 0)
    below = np.repeat(np.arange(n), counts)
    upper = np.repeat(first, counts) + np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    label = _union(n, upper, below)
    _, label = np.unique(label, return_inverse=True)
    count = int(label.max()) + 1
    cumulative = np.pad(np.cumsum(np.where(mask, ink, 0), axis=1, dtype=np.float64), ((0, 0), (1, 0)))
    run_mass = cumulative[row, stop] - cumulative[row, start]
    x0 = np.full(count, w, dtype=np.int64)
    y0 = np.full(count, h, dtype=np.int64)
    x1 = np.zeros(count, dtype=np.int64)
    y1 = np.zeros(count, dtype=np.int64)
    np.minimum.at(x0, label, start)
    np.minimum.at(y0, label, row)
    np.maximum.at(x1, label, stop)
    np.maximum.at(y1, label, row + 1)
    mass = np.bincount(label, weights=run_mass, minlength=count)
    return _Components(count, row, start, stop, label, x0, y0, x1, y1, mass)


def _union(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Labels (n,) for n nodes joined by the edges (a[i], b[i]): each node's smallest connected
    node. Hooks every edge's larger root under its smaller, then jumps pointers to the roots,
    until every edge joins equal labels (a few rounds)."""
    parent = np.arange(n)
    while True:
        pa, pb = parent[a], parent[b]
        differ = pa != pb
        if not differ.any():
            return parent
        pa, pb = pa[differ], pb[differ]
        np.minimum.at(parent, np.maximum(pa, pb), np.minimum(pa, pb))
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped


# -------------------------------------------------------------------------------------------
# Grouping components into digits
# -------------------------------------------------------------------------------------------


def find_groups(small: np.ndarray) -> tuple[list[Group], float, np.ndarray]:
    """The groups of the (shrunk) ink ``small`` (h, w), left to right: each one digit or a run of
    touching digits; the typical digit height H in pixels; and each pixel's component (h, w) int32,
    -1 outside them all. Raises ``NoDigitFound`` (blank, or only specks) and ``TooManyDigits``."""
    comps = _components(small > LOW, small)
    if comps.count == 0:
        raise NoDigitFound("no digit found: the image is blank")
    members, typical = _groups(comps)
    if not members:
        raise NoDigitFound("no digit found: the only ink is specks")
    labels = comps.pixel_labels(small.shape)
    groups = []
    for group, joined in members:
        x0, x1 = int(comps.x0[group].min()), int(comps.x1[group].max())
        y0, y1 = int(comps.y0[group].min()), int(comps.y1[group].max())
        pad = 2
        top, left = max(0, y0 - pad), max(0, x0 - pad)
        bottom, right = min(small.shape[0], y1 + pad), min(small.shape[1], x1 + pad)
        window = labels[top:bottom, left:right]
        own = np.isin(window, group)
        # Grown by a pixel, so the faint edges the shrinking left out of every component come too,
        # but never into another component's pixels.
        grown = own.copy()
        grown[1:] |= own[:-1]
        grown[:-1] |= own[1:]
        grown[:, 1:] |= grown[:, :-1].copy()
        grown[:, :-1] |= grown[:, 1:].copy()
        mask = grown & ((window < 0) | own)
        crop = np.where(mask, small[top:bottom, left:right], 0).astype(np.float32)
        cols = np.flatnonzero((crop >= INK_THRESHOLD).any(axis=0))
        width = int(cols[-1] + 1 - cols[0]) if cols.size else 0
        groups.append(Group(crop, top, left, width, group, joined))
    return groups, typical, labels


def _groups(c: _Components) -> tuple[list[tuple[list[int], bool]], float]:
    """The components that make up each digit (or run of touching digits), left to right, and the
    typical digit height H in pixels; each group with whether thin neighbours were joined into it."""
    heights, widths = c.y1 - c.y0, c.x1 - c.x0
    heavy = c.mass >= 0.1 * c.mass.max()
    typical = float(np.median(heights[heavy]))
    big = heights >= TALL * typical
    if np.count_nonzero(big) > 8 * MAX_DIGITS:  # far too many: refuse before looking closer
        raise _too_many()
    order = np.flatnonzero(big)
    order = order[np.argsort(c.x0[order], kind="stable")]
    groups: list[list[int]] = []
    spans: list[list[int]] = []  # each group's [x0, x1, y0, y1]
    for k in order:
        k = int(k)
        if spans:
            gx0, gx1 = spans[-1][0], spans[-1][1]
            shared = min(gx1, int(c.x1[k])) - max(gx0, int(c.x0[k]))
            if shared >= MERGE_OVERLAP * min(gx1 - gx0, int(widths[k])):
                groups[-1].append(k)
                s = spans[-1]
                s[0], s[1] = min(s[0], int(c.x0[k])), max(s[1], int(c.x1[k]))
                s[2], s[3] = min(s[2], int(c.y0[k])), max(s[3], int(c.y1[k]))
                continue
        groups.append([k])
        spans.append([int(c.x0[k]), int(c.x1[k]), int(c.y0[k]), int(c.y1[k])])
        if len(groups) > MAX_DIGITS:
            raise _too_many()
    small = np.flatnonzero(~big)
    leftover: list[int] = []
    if spans and small.size:
        box = np.array(spans, dtype=np.float64)  # (groups, 4)
        # The gap between each small component's columns and each group's (0 when they overlap),
        # and the distance across between their centres: (small, groups).
        gap = np.maximum(0, np.maximum(box[None, :, 0] - c.x1[small, None], c.x0[small, None] - box[None, :, 1]))
        across = np.abs((box[None, :, 0] + box[None, :, 1]) / 2 - (c.x0[small, None] + c.x1[small, None]) / 2)
        # Nor may it be far above or below the group (a speck over a digit is not part of it).
        below = np.maximum(0, np.maximum(box[None, :, 2] - c.y1[small, None], c.y0[small, None] - box[None, :, 3]))
        near = (gap <= ATTACH * typical) & (below <= ATTACH * typical)
        nearest = np.where(near, across, np.inf).argmin(axis=1)
        for row, (k, g) in enumerate(zip(small, nearest)):
            if near[row, g]:
                groups[int(g)].append(int(k))
            else:
                leftover.append(int(k))
    else:
        leftover = [int(k) for k in small]
    for cluster in _clusters(c, leftover, typical):
        x0, x1 = min(int(c.x0[k]) for k in cluster), max(int(c.x1[k]) for k in cluster)
        y0, y1 = min(int(c.y0[k]) for k in cluster), max(int(c.y1[k]) for k in cluster)
        if max(x1 - x0, y1 - y0) >= CLUSTER_SIZE * typical:
            groups.append(cluster)
            spans.append([x0, x1, y0, y1])
            if len(groups) > MAX_DIGITS:
                raise _too_many()
    order_by_x = sorted(range(len(groups)), key=lambda g: (spans[g][0] + spans[g][1]) / 2)
    return _join_thin([groups[g] for g in order_by_x], [spans[g] for g in order_by_x], typical), typical


def _join_thin(groups: list[list[int]], spans: list[list[int]], typical: float) -> list[tuple[list[int], bool]]:
    """Neighbouring groups joined into one when one of them is a thin stroke (at most ``THIN`` H
    wide) within ``JOIN_GAP`` H of the other: a digit whose stroke broke in two, or a 1 beside a
    digit; the cuts then choose which (the gap between them is a candidate cut). Each group with
    whether it was joined."""
    out: list[tuple[list[int], bool]] = []
    last: list[int] | None = None
    for group, span in zip(groups, spans):
        if last is not None:
            gap = span[0] - last[1]
            thin = min(last[1] - last[0], span[1] - span[0]) <= THIN * typical
            if thin and gap <= JOIN_GAP * typical:
                out[-1] = (out[-1][0] + group, True)
                last = [min(last[0], span[0]), max(last[1], span[1]), min(last[2], span[2]), max(last[3], span[3])]
                continue
        out.append((group, False))
        last = list(span)
    return out


def _clusters(c: _Components, members: list[int], typical: float) -> list[list[int]]:
    """Small components swept left to right into clusters of those whose columns overlap or come
    within CLUSTER_GAP H of each other."""
    clusters: list[list[int]] = []
    right = -math.inf
    for k in sorted(members, key=lambda k: int(c.x0[k])):
        if clusters and c.x0[k] <= right + CLUSTER_GAP * typical:
            clusters[-1].append(k)
            right = max(right, int(c.x1[k]))
        else:
            clusters.append([k])
            right = int(c.x1[k])
            if len(clusters) > 4 * MAX_DIGITS:  # specks everywhere: stop looking
                break
    return clusters


# -------------------------------------------------------------------------------------------
# Cutting a group into digits
# -------------------------------------------------------------------------------------------


def candidates(group: Group, typical: float, grid_step: float = GRID_STEP) -> Candidates:
    """The candidate pieces of ``group`` (the whole group among them), cut along the paths of
    ``_cut_paths`` (starts ``grid_step`` H apart or more); a piece that is no digit at all (a dot,
    a dash) is left out."""
    ink = group.ink
    strong = ink >= INK_THRESHOLD
    cols = np.flatnonzero(strong.any(axis=0))
    rows = np.flatnonzero(strong.any(axis=1))
    h = ink.shape[0]
    paths = _cut_paths(ink, int(cols[0]), int(cols[-1]) + 1, int(rows[0]), int(rows[-1]) + 1, typical, grid_step)
    bounds = [np.zeros(h, dtype=np.int64), *paths, np.full(h, ink.shape[1], dtype=np.int64)]
    # The ink each cut goes through: the pixels just left and right of its path, in every row.
    every = np.arange(h)
    crossed = [0.0]
    for path in paths:
        left_of = ink[every, np.clip(path - 1, 0, ink.shape[1] - 1)]
        right_of = ink[every, np.clip(path, 0, ink.shape[1] - 1)]
        crossed.append(float(np.minimum(left_of, right_of).sum()) / typical)
    crossed.append(0.0)
    k = len(bounds) - 1
    columns = np.arange(ink.shape[1])
    spans: list[tuple[int, int]] = []
    cuts: list[tuple[float, float]] = []
    images: list[np.ndarray] = []
    boxes: list[tuple[int, int, int, int]] = []
    for i in range(k):
        c0 = int(bounds[i].min())
        for j in range(i + 1, k + 1):
            # Only the columns the piece reaches (its pixels are the same; there are several hundred
            # pieces in a number of touching digits, and the whole crop's width costs each of them).
            c1 = int(bounds[j].max())
            inside = (columns[None, c0:c1] >= bounds[i][:, None]) & (columns[None, c0:c1] < bounds[j][:, None])
            piece = np.where(inside, ink[:, c0:c1], 0).astype(np.float32)
            try:
                top, left, bottom, right = box = _digit_box(piece)
                if right - left > MAX_PIECE * typical and (i, j) != (0, k):
                    break  # wider still as j grows
                image = box_to_mnist(piece, box, ink.shape)  # a speck against the whole group's size
            except NoDigitFound:
                continue
            spans.append((i, j))
            cuts.append((crossed[i], crossed[j]))
            images.append(image)
            boxes.append((left + c0, top, right + c0, bottom))
    stacked = np.stack(images) if images else np.zeros((0, 28, 28), dtype=np.float32)
    return Candidates(k, spans, stacked, shape_features(boxes, typical, cuts), boxes, bounds, ink.shape[1])


def shape_features(
    boxes: list[tuple[int, int, int, int]], typical: float, cuts: list[tuple[float, float]] | None = None
) -> np.ndarray:
    """(n, FEATURES) float32 for boxes (x0, y0, x1, y1) and the ink (in H) their left and right cuts
    cross (default none: whole groups): what the 28x28 form loses of a piece, its size against the
    number's typical digit height ``typical`` and how it was cut."""
    if not boxes:
        return np.zeros((0, FEATURES), dtype=np.float32)
    b = np.asarray(boxes, dtype=np.float64)
    width, height = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    crossed = np.zeros((len(boxes), 2)) if cuts is None else np.asarray(cuts, dtype=np.float64)
    shape = [width / typical, height / typical, np.log(width / height), crossed[:, 0], crossed[:, 1]]
    return np.stack(shape, axis=1).astype(np.float32)


def _choose(k: int, spans: list[tuple[int, int]], score: np.ndarray) -> list[int]:
    """The candidates (indices into ``spans``, left to right) that cover the cut intervals
    0 .. k - 1 with the highest total ``score``: each candidate (i, j) covers intervals i .. j - 1."""
    # best[j]: the best total of a segmentation of intervals 0 .. j - 1. Every interval belongs to
    # exactly one piece, unless no piece of it could be read at all (SKIP_PENALTY).
    best = np.full(k + 1, -np.inf)
    best[0] = 0.0
    back: list[tuple[int, int] | None] = [None] * (k + 1)
    by_end: dict[int, list[int]] = {}
    for n, (_, j) in enumerate(spans):
        by_end.setdefault(j, []).append(n)
    for j in range(1, k + 1):
        if best[j - 1] - SKIP_PENALTY > best[j]:
            best[j], back[j] = best[j - 1] - SKIP_PENALTY, (j - 1, -1)
        for n in by_end.get(j, []):
            i = spans[n][0]
            if best[i] + score[n] > best[j]:
                best[j], back[j] = best[i] + score[n], (i, n)
    chosen: list[int] = []
    j = k
    while j > 0 and back[j] is not None:
        i, n = back[j]
        if n >= 0:
            chosen.append(n)
        j = i
    return chosen[::-1]


def _cut_paths(
    ink: np.ndarray, gx0: int, gx1: int, gy0: int, gy1: int, typical: float, grid_step: float
) -> list[np.ndarray]:
    """Candidate cuts through a group's ink (h, w) whose strong strokes span columns gx0..gx1 and
    rows gy0..gy1, starting ``grid_step`` H apart or more: each an (h,) array of the first column
    right of the cut in every row, left to right."""
    region = ink[gy0:gy1, gx0:gx1].astype(np.float64)
    width = region.shape[1]
    profile = region.sum(axis=0)
    if width < 3:
        return []
    # Smooth the profile a little so a stroke's own texture does not make minima.
    kernel = np.array([1.0, 2.0, 3.0, 2.0, 1.0]) / 9
    smooth = np.convolve(np.pad(profile, 2, mode="edge"), kernel, mode="valid")
    edge = max(1, round(MIN_PIECE * typical))
    inner = np.arange(edge, width - edge)
    if inner.size == 0:
        return []
    left, mid, right = smooth[inner - 1], smooth[inner], smooth[inner + 1]
    minima = inner[((mid <= left) & (mid < right)) | ((mid < left) & (mid <= right))]
    # The deepest minimum within each ``grid_step`` stretch, so cuts are not crowded; then evenly
    # spaced columns in the stretches without one (digits that overlap a lot leave none).
    spacing = max(1, round(grid_step * typical))
    chosen: list[int] = []
    for x in [*minima[np.argsort(smooth[minima], kind="stable")], *range(edge, width - edge + 1, spacing)]:
        if all(abs(int(x) - y) >= spacing for y in chosen):
            chosen.append(int(x))
    chosen.sort()
    if not chosen:
        return []
    band = max(1, round(PATH_BAND * typical))
    found = _shortest_paths(region, chosen, band) + gx0  # (n, rows)
    # Paths from neighbouring columns may cross; order them row by row so the pieces stay apart,
    # and drop those that came out the same.
    found = np.unique(np.sort(found, axis=0), axis=0)
    paths = np.empty((len(found), ink.shape[0]), dtype=np.int64)
    paths[:, gy0:gy1] = found
    paths[:, :gy0], paths[:, gy1:] = found[:, :1], found[:, -1:]
    return list(paths)


def _reduce(ink: np.ndarray, f: int) -> np.ndarray:
    """``ink`` (h, w) averaged over f x f blocks (the last partial blocks padded with 0)."""
    if f == 1:
        return ink.astype(np.float32)
    h, w = ink.shape
    padded = np.pad(ink, ((0, -h % f), (0, -w % f)))
    return padded.reshape(padded.shape[0] // f, f, padded.shape[1] // f, f).mean(axis=(1, 3), dtype=np.float32)


def _shortest_paths(ink: np.ndarray, xs: list[int], band: int) -> np.ndarray:
    """For each start column of ``xs``, the top-to-bottom path through ``ink`` (rows, cols) with the
    least cost, where each pixel it visits costs its ink, SIDE_STEP, and DEVIATION for each
    ``band`` columns it lies off the path's centre line (no further than ``band``). Each row the
    path enters where it left the row above and may run sideways along the row before going down:
    so it can slip under a 7's bar or over a 2's tail to where two digits touch. The centre line
    crosses the start column half-way down at each slope of SLOPES (digits lean), and each start
    keeps its cheapest. Returns (len(xs), rows): the column where each path goes down in each row.
    All starts at once, row by row, each row seen through a window of the columns within ``band``
    of the line (plus one, for the rounding of the line to whole columns)."""
    rows, width = ink.shape
    slopes = np.asarray(SLOPES)
    lean = slopes[None, :, None] * (np.arange(rows) - rows / 2)[None, None, :]
    centre = (np.asarray(xs, dtype=np.float64)[:, None, None] + lean).reshape(-1, rows)  # (m, rows)
    m = len(centre)
    origin = np.rint(centre).astype(np.int64) - (band + 1)  # (m, rows): each row's window's first column
    window = np.arange(2 * band + 3)
    cols = origin[:, :, None] + window  # (m, rows, 2 band + 3)
    off = np.abs(cols - centre[:, :, None])
    inside = (cols >= 0) & (cols < width) & (off <= band)
    pixels = ink.astype(np.float64)[np.arange(rows)[None, :, None], np.clip(cols, 0, width - 1)]
    # Beyond the band or the crop, dear but finite: a line that leans out of a small group still has a path.
    cost = np.where(inside, pixels + DEVIATION * off / band + SIDE_STEP, OUTSIDE)
    # Entering row r at window position a and leaving it at b costs the pixels a .. b of row r. With
    # P the running sum of the row's costs, that is P[b] - P[a] + cost[a] going right (a <= b), and
    # P[a] - P[b] + cost[b] going left: the best a for every b is a running minimum each way.
    total = cost[:, 0].copy()
    came_from = np.empty((rows, m, window.size), dtype=np.int64)
    every_position = np.broadcast_to(window, (m, window.size))
    every = np.arange(m)
    shift = np.diff(origin, axis=1)  # (m, rows - 1): how far each window moves from one row to the next
    padded = np.full((m, window.size + 2), np.inf)
    for r in range(1, rows):
        # A path leaves row r - 1 at column origin[r - 1] + k and enters row r there, at k - shift.
        padded[:, 1:-1] = total
        entry = padded[every[:, None], np.clip(window + shift[:, r - 1, None] + 1, 0, window.size + 1)]
        row = cost[:, r]
        running = np.cumsum(row, axis=1)
        right, from_left = _running_min(entry - running + row, every_position)
        left, from_right = _running_min((entry + running)[:, ::-1], every_position)
        left, from_right = left[:, ::-1], window.size - 1 - from_right[:, ::-1]
        going_right, going_left = running + right, row - running + left
        rightwards = going_right <= going_left
        total = np.where(rightwards, going_right, going_left)
        came_from[r] = np.where(rightwards, from_left, from_right)
    at = np.empty((m, rows), dtype=np.int64)  # window positions
    at[:, -1] = total.argmin(axis=1)
    for r in range(rows - 1, 0, -1):
        at[:, r - 1] = came_from[r, every, at[:, r]] + shift[:, r - 1]
    paths = origin + at
    best = total.min(axis=1).reshape(len(xs), len(slopes)).argmin(axis=1)
    return np.clip(paths.reshape(len(xs), len(slopes), rows)[np.arange(len(xs)), best], 0, width)


def _running_min(values: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The running minimum of ``values`` (m, w) along each row, and the column where each was reached."""
    low = np.minimum.accumulate(values, axis=1)
    return low, np.maximum.accumulate(np.where(values == low, columns, 0), axis=1)
