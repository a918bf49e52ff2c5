// The drawing pad: a canvas that keeps its strokes as data.
//
// Strokes are arrays of points in units of the pad's height (y from 0 to 1, x from 0 to the
// pad's aspect: 1 for a digit's square pad, 2 for a number's wide one), so the drawing is redrawn
// crisply at any size (resize, rotation, zoom) and Undo simply drops the last one. What is sent
// is a PNG of the strokes EXPORT_HEIGHT px tall (140x140 for a digit, 280x140 for a number): dark
// opaque ink on transparent pixels.

// px of the PNG sent to the server: a digit's box is then about 100 px, five times the 20 px it
// becomes, with strokes about 10 px wide. Decoding the PNG is most of a reading's work, and it
// grows with the pixels: at 280 px it took four times as long, for the same 28x28 image.
const EXPORT_HEIGHT = 140;
const LINE_WIDTH = 1 / 13; // of the pad's height: MNIST-like strokes once a digit is 20 px tall
const INK = "#111111";
const MIN_STEP = 0.002; // of the pad's height: a pointer sample closer than this to the last one adds nothing

/** Draws the strokes over the whole canvas, whose width stands for ``aspect`` heights. */
function paint(context, aspect, list) {
  const { width, height } = context.canvas;
  context.save();
  context.setTransform(1, 0, 0, 1, 0, 0);
  context.clearRect(0, 0, width, height);
  // The canvas's CSS box is the aspect give or take its border's pixel: map the strokes onto all of it.
  context.setTransform(width / aspect, 0, 0, height, 0, 0);
  context.strokeStyle = INK;
  context.fillStyle = INK;
  context.lineWidth = LINE_WIDTH;
  context.lineCap = "round";
  context.lineJoin = "round";
  for (const points of list) {
    if (points.length === 0) continue;
    if (points.length === 1) {
      context.beginPath();
      context.arc(points[0].x, points[0].y, LINE_WIDTH / 2, 0, Math.PI * 2);
      context.fill();
      continue;
    }
    // Quadratic curves through the midpoints: smooth, and passing near every sample.
    context.beginPath();
    context.moveTo(points[0].x, points[0].y);
    for (let i = 1; i < points.length - 1; i++) {
      const p = points[i];
      const q = points[i + 1];
      context.quadraticCurveTo(p.x, p.y, (p.x + q.x) / 2, (p.y + q.y) / 2);
    }
    const last = points[points.length - 1];
    context.lineTo(last.x, last.y);
    context.stroke();
  }
  context.restore();
}

/**
 * Makes ``canvas`` a drawing pad ``aspect`` times as wide as it is tall (its CSS gives it that
 * shape). ``onStrokeStart()`` runs when a pointer starts a stroke (the stroke already counts as
 * drawn), ``onStrokeEnd()`` when it is finished and kept.
 */
export function createPad(canvas, { onStrokeStart, onStrokeEnd, aspect: initialAspect = 1 }) {
  const ctx = canvas.getContext("2d");
  let aspect = initialAspect;
  /** @type {{x: number, y: number}[][]} */
  let strokes = [];
  let current = null; // the stroke being drawn: {pointerId, points}
  let redrawQueued = false;

  const exportSize = () => ({ width: Math.round(EXPORT_HEIGHT * aspect), height: EXPORT_HEIGHT });

  function allStrokes() {
    return current ? [...strokes, current.points] : strokes;
  }

  function redraw() {
    redrawQueued = false;
    paint(ctx, aspect, allStrokes());
  }

  function queueRedraw() {
    if (!redrawQueued) {
      redrawQueued = true;
      requestAnimationFrame(redraw);
    }
  }

  /** Sizes the backing store to the CSS size times devicePixelRatio, then redraws. */
  function fitCanvas() {
    const rect = canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(rect.width * ratio));
    const height = Math.max(1, Math.round(rect.height * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    redraw();
  }

  function pointFrom(event) {
    const rect = canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return {
      x: clamp((event.clientX - rect.left) / rect.width) * aspect,
      y: clamp((event.clientY - rect.top) / rect.height),
    };
  }

  function onPointerDown(event) {
    if (current || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    current = { pointerId: event.pointerId, points: [pointFrom(event)] };
    onStrokeStart();
    queueRedraw();
  }

  function onPointerMove(event) {
    if (!current || event.pointerId !== current.pointerId) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) {
      const p = pointFrom(e);
      const last = current.points[current.points.length - 1];
      if (Math.hypot(p.x - last.x, p.y - last.y) > MIN_STEP) current.points.push(p);
    }
    queueRedraw();
  }

  function onPointerEnd(event) {
    if (!current || event.pointerId !== current.pointerId) return;
    event.preventDefault();
    strokes.push(current.points);
    current = null;
    queueRedraw();
    onStrokeEnd();
  }

  canvas.addEventListener("pointerdown", onPointerDown);
  canvas.addEventListener("pointermove", onPointerMove);
  canvas.addEventListener("pointerup", onPointerEnd);
  canvas.addEventListener("pointercancel", onPointerEnd);
  canvas.addEventListener("lostpointercapture", onPointerEnd);
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  // Older iOS Safari scrolls on touchmove despite touch-action; stop it on the pad only.
  canvas.addEventListener("touchmove", (e) => e.preventDefault(), { passive: false });
  new ResizeObserver(fitCanvas).observe(canvas);
  window.addEventListener("resize", fitCanvas); // also fires when devicePixelRatio changes (zoom)
  fitCanvas();

  return {
    /** Finished strokes (the one being drawn not counted). */
    strokeCount: () => strokes.length,
    /** Whether a pointer is drawing a stroke right now. */
    isDrawing: () => current !== null,

    /** Drops the last finished stroke; false when there is none. */
    undo() {
      if (strokes.length === 0) return false;
      strokes.pop();
      queueRedraw();
      return true;
    },

    /** Forgets every stroke, the one being drawn too. */
    clear() {
      strokes = [];
      current = null;
      queueRedraw();
    },

    /**
     * Makes the pad ``newAspect`` times as wide as it is tall (the CSS must follow). The strokes
     * stay where they are when they all fit in the new shape, and are all dropped otherwise (half
     * a number is no drawing); returns whether they stayed.
     */
    setAspect(newAspect) {
      const fits = strokes.every((points) => points.every((p) => p.x <= newAspect));
      aspect = newAspect;
      current = null;
      if (!fits) strokes = [];
      fitCanvas();
      return fits;
    },

    /** The size in px of the PNG ``toPng`` makes: the pixels an answer's boxes are given in. */
    exportSize,

    /** The finished strokes as a PNG data URL of ``exportSize()``. */
    toPng() {
      const off = document.createElement("canvas");
      const { width, height } = exportSize();
      off.width = width;
      off.height = height;
      paint(off.getContext("2d"), aspect, strokes);
      return off.toDataURL("image/png");
    },
  };
}
