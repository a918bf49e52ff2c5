// The drawing page: a pad that keeps its strokes as data, and the answers of POST /predict.
//
// Strokes are arrays of points in pad-relative 0..1 coordinates, so the drawing is redrawn
// crisply at any size (resize, rotation, zoom) and Undo simply drops the last one. What is
// sent is a fixed 280x280 PNG of the strokes: dark opaque ink on transparent pixels.

const EXPORT_SIDE = 280; // px of the PNG sent to the server
const LINE_WIDTH = 1 / 13; // of the pad's side: MNIST-like strokes once the digit is 20 px tall
const INK = "#111111";
const DEBOUNCE_MS = 250; // after a stroke ends, before predicting
const TIMEOUT_MS = 20000;

const $ = (selector) => document.querySelector(selector);

const app = $("#app");
const canvas = $("#canvas");
const pad = $("#pad");
const padHint = $("#pad-hint");
const padFile = $("#pad-file");
const filePreview = $("#file-preview");
const fileName = $("#file-name");
const predictButton = $("#predict");
const undoButton = $("#undo");
const clearButton = $("#clear");
const upload = $("#upload");
const result = $("#result");
const digitEl = $("#result-digit");
const confidenceEl = $("#confidence");
const doubtEl = $("#doubt");
const modelEl = $("#result-model");
const seen = $("#seen");
const seenEmpty = $("#seen-empty");
const message = $("#message");
const bars = [...document.querySelectorAll("#bars .bar")];

const predictUrl = app.dataset.predictUrl || "/predict";
const lowConfidence = Number.parseFloat(result.dataset.lowConfidence) || 0.6;
const ctx = canvas.getContext("2d");

// ---- State -------------------------------------------------------------------------------

/** @type {{x: number, y: number}[][]} */
let strokes = [];
let current = null; // the stroke being drawn: {pointerId, points}
let file = null; // the uploaded/pasted/dropped file the result belongs to, if any
let filePreviewUrl = null;
let debounceTimer = 0;
let redrawQueued = false;
let sequence = 0; // bumped by every new input; only the latest request's answer is shown
let inFlight = null; // AbortController of the request in flight

// ---- Drawing -----------------------------------------------------------------------------

/** Draws the strokes on a context whose transform maps 0..1 onto the canvas side. */
function paint(context, side, list) {
  context.save();
  context.setTransform(1, 0, 0, 1, 0, 0);
  context.clearRect(0, 0, context.canvas.width, context.canvas.height);
  context.setTransform(side, 0, 0, side, 0, 0);
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

function allStrokes() {
  return current ? [...strokes, current.points] : strokes;
}

function redraw() {
  redrawQueued = false;
  paint(ctx, canvas.width, allStrokes());
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
  const side = Math.max(1, Math.round(rect.width * (window.devicePixelRatio || 1)));
  if (canvas.width !== side || canvas.height !== side) {
    canvas.width = side;
    canvas.height = side;
  }
  redraw();
}

function pointFrom(event) {
  const rect = canvas.getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return {
    x: clamp((event.clientX - rect.left) / rect.width),
    y: clamp((event.clientY - rect.top) / rect.height),
  };
}

function onPointerDown(event) {
  if (current || (event.pointerType === "mouse" && event.button !== 0)) return;
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  if (file) forgetFile();
  invalidate(); // whatever was asked about the previous drawing no longer matters
  current = { pointerId: event.pointerId, points: [pointFrom(event)] };
  updateControls();
  queueRedraw();
}

function onPointerMove(event) {
  if (!current || event.pointerId !== current.pointerId) return;
  event.preventDefault();
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of events.length ? events : [event]) {
    const p = pointFrom(e);
    const last = current.points[current.points.length - 1];
    if (Math.hypot(p.x - last.x, p.y - last.y) > 0.002) current.points.push(p);
  }
  queueRedraw();
}

function onPointerEnd(event) {
  if (!current || event.pointerId !== current.pointerId) return;
  event.preventDefault();
  strokes.push(current.points);
  current = null;
  updateControls();
  queueRedraw();
  schedulePrediction();
}

// ---- Controls ----------------------------------------------------------------------------

function updateControls() {
  const count = strokes.length + (current ? 1 : 0);
  setDisabled(undoButton, strokes.length === 0);
  setDisabled(clearButton, count === 0 && !file && result.dataset.state === "empty" && !message.textContent);
  pad.classList.toggle("is-empty", count === 0);
  padHint.hidden = count > 0 || Boolean(file);
  canvas.setAttribute(
    "aria-label",
    count === 0
      ? "Drawing pad, empty"
      : `Drawing pad, ${count} stroke${count === 1 ? "" : "s"} drawn`,
  );
}

function setDisabled(button, disabled) {
  button.setAttribute("aria-disabled", String(disabled));
}

function undo() {
  if (strokes.length === 0) return;
  strokes.pop();
  invalidate();
  queueRedraw();
  if (strokes.length) {
    schedulePrediction();
  } else {
    showEmpty();
  }
  updateControls();
}

function clearAll() {
  strokes = [];
  current = null;
  forgetFile();
  invalidate();
  queueRedraw();
  showEmpty();
  updateControls();
}

function selectedModel() {
  const checked = document.querySelector('input[name="model"]:checked');
  return checked ? checked.value : app.dataset.defaultModel || "";
}

// ---- Files: upload, paste, drop ----------------------------------------------------------

function useFile(newFile) {
  if (!newFile) return;
  strokes = [];
  current = null;
  forgetFile();
  file = newFile;
  if (newFile.type.startsWith("image/")) {
    filePreviewUrl = URL.createObjectURL(newFile);
    filePreview.src = filePreviewUrl;
    filePreview.hidden = false;
  } else {
    filePreview.hidden = true;
  }
  fileName.textContent = newFile.name || "pasted image";
  padFile.hidden = false;
  queueRedraw();
  updateControls();
  predict();
}

function forgetFile() {
  file = null;
  padFile.hidden = true;
  filePreview.removeAttribute("src");
  if (filePreviewUrl) URL.revokeObjectURL(filePreviewUrl);
  filePreviewUrl = null;
}

function imageFrom(dataTransfer) {
  if (!dataTransfer) return null;
  const files = [...(dataTransfer.files || [])];
  const image = files.find((f) => f.type.startsWith("image/"));
  if (image || files.length) return image || files[0];
  for (const item of dataTransfer.items || []) {
    if (item.kind === "file") return item.getAsFile();
  }
  return null;
}

// ---- Predicting --------------------------------------------------------------------------

function schedulePrediction() {
  clearTimeout(debounceTimer);
  setBusy(true); // the answer shown is for an older drawing until the new one arrives
  debounceTimer = setTimeout(predict, DEBOUNCE_MS);
}

/** Forgets any pending or in-flight prediction: its answer belongs to an older input. */
function invalidate() {
  clearTimeout(debounceTimer);
  sequence += 1;
  if (inFlight) inFlight.abort();
  inFlight = null;
  if (result.dataset.state === "busy") setBusy(false, result.dataset.previous || "empty");
}

function exportDrawing() {
  const off = document.createElement("canvas");
  off.width = EXPORT_SIDE;
  off.height = EXPORT_SIDE;
  paint(off.getContext("2d"), EXPORT_SIDE, strokes);
  return off.toDataURL("image/png");
}

async function predict() {
  clearTimeout(debounceTimer);
  let body;
  let headers;
  if (file) {
    body = new FormData();
    body.append("image", file, file.name || "image");
    headers = { Accept: "application/json" };
  } else {
    // A blank pad is sent too: the server's "no digit found" is the answer to show.
    body = JSON.stringify({ image: exportDrawing() });
    headers = { "Content-Type": "application/json", Accept: "application/json" };
  }
  invalidate();
  const mine = sequence;
  const controller = new AbortController();
  inFlight = controller;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, TIMEOUT_MS);
  setBusy(true);
  const url = `${predictUrl}?model=${encodeURIComponent(selectedModel())}`;
  try {
    const response = await fetch(url, { method: "POST", headers, body, signal: controller.signal });
    const data = await response.json().catch(() => null);
    if (mine !== sequence) return;
    if (response.ok && data && Array.isArray(data.probabilities)) {
      showAnswer(data);
    } else {
      showError(errorText(response.status, data));
    }
  } catch (error) {
    if (mine !== sequence) return;
    showError(
      timedOut
        ? "The server took too long to answer. Please try again."
        : "Could not reach the server. Check your connection and try again.",
    );
  } finally {
    clearTimeout(timer);
    if (inFlight === controller) inFlight = null;
  }
}

function errorText(status, data) {
  const error = data && data.error;
  let text = error && typeof error.message === "string" ? error.message.trim() : "";
  if (!text) {
    text = {
      400: "The image could not be read.",
      413: "The image is too large.",
      415: "That kind of file is not accepted; use PNG, JPEG, GIF, BMP or WebP.",
      422: "No digit found.",
    }[status] || `The server answered with an error (${status}).`;
  }
  text = text.charAt(0).toUpperCase() + text.slice(1);
  if (!/[.!?]$/.test(text)) text += ".";
  if (error && error.code === "no_digit" && !file) text += " Draw a digit on the pad first.";
  return text;
}

// ---- Showing results ---------------------------------------------------------------------

const percent = (p) => `${Math.round(p * 100)}%`;

const IDLE_TEXT = { empty: "Nothing drawn yet", error: "No answer" };

function setBusy(busy, state) {
  result.setAttribute("aria-busy", String(busy));
  if (busy) {
    if (result.dataset.state !== "busy") result.dataset.previous = result.dataset.state;
    result.dataset.state = "busy";
    if (result.dataset.previous !== "ok") confidenceEl.textContent = "Reading…";
  } else if (state) {
    result.dataset.state = state;
    if (state in IDLE_TEXT) confidenceEl.textContent = IDLE_TEXT[state];
  }
}

function setBars(probabilities, winner) {
  bars.forEach((bar, digit) => {
    const p = probabilities ? probabilities[digit] || 0 : 0;
    bar.classList.toggle("is-winner", probabilities !== null && digit === winner);
    bar.querySelector(".bar-fill").style.height = `${(p * 100).toFixed(1)}%`;
    bar.querySelector(".bar-pct").textContent = probabilities ? percent(p) : "";
    bar.querySelector(".bar-text").textContent = probabilities
      ? `${digit}: ${percent(p)}`
      : `${digit}: no answer yet`;
  });
}

function showAnswer(data) {
  const probabilities = data.probabilities.map(Number);
  const order = probabilities.map((p, d) => [p, d]).sort((a, b) => b[0] - a[0]);
  const label = Number.isInteger(data.label) ? data.label : order[0][1];
  const confidence = typeof data.confidence === "number" ? data.confidence : order[0][0];
  const second = order.find(([, d]) => d !== label);
  const unsure = confidence < lowConfidence && second;

  digitEl.textContent = String(label);
  confidenceEl.textContent = `${percent(confidence)} confident`;
  doubtEl.textContent = unsure ? `Not sure — ${label} or ${second[1]}?` : "";
  doubtEl.hidden = !unsure;
  modelEl.textContent = data.model ? `Model: ${data.model}` : "";
  setBars(probabilities, label);
  if (typeof data.input === "string" && data.input.startsWith("data:image/")) {
    seen.src = data.input;
    seen.alt = `The 28 by 28 pixel image the network saw, read as ${label}`;
    seen.hidden = false;
    seenEmpty.hidden = true;
  }
  message.dataset.kind = "ok";
  message.textContent = unsure
    ? `Not sure — ${label} or ${second[1]}? ${label} is ${percent(confidence)} likely, ${second[1]} ${percent(second[0])}.`
    : `Read as ${label}, ${percent(confidence)} confident.`;
  setBusy(false, "ok");
  updateControls();
}

function showError(text) {
  digitEl.textContent = "?";
  doubtEl.hidden = true;
  modelEl.textContent = "";
  setBars(null);
  hideSeen();
  message.dataset.kind = "error";
  message.textContent = text;
  setBusy(false, "error");
  updateControls();
}

function hideSeen() {
  seen.hidden = true;
  seen.removeAttribute("src");
  seen.alt = "";
  seenEmpty.hidden = false;
}

function showEmpty() {
  digitEl.textContent = "?";
  doubtEl.hidden = true;
  doubtEl.textContent = "";
  modelEl.textContent = "";
  setBars(null);
  hideSeen();
  message.dataset.kind = "";
  message.textContent = "";
  setBusy(false, "empty");
}

// ---- Wiring ------------------------------------------------------------------------------

canvas.addEventListener("pointerdown", onPointerDown);
canvas.addEventListener("pointermove", onPointerMove);
canvas.addEventListener("pointerup", onPointerEnd);
canvas.addEventListener("pointercancel", onPointerEnd);
canvas.addEventListener("lostpointercapture", onPointerEnd);
canvas.addEventListener("contextmenu", (e) => e.preventDefault());
// Older iOS Safari scrolls on touchmove despite touch-action; stop it on the pad only.
canvas.addEventListener("touchmove", (e) => e.preventDefault(), { passive: false });

predictButton.addEventListener("click", () => predict());
undoButton.addEventListener("click", undo);
clearButton.addEventListener("click", clearAll);

upload.addEventListener("change", () => {
  const chosen = upload.files && upload.files[0];
  upload.value = ""; // choosing the same file again still fires "change"
  useFile(chosen);
});

for (const radio of document.querySelectorAll('input[name="model"]')) {
  radio.addEventListener("change", () => {
    if (file || strokes.length) predict();
  });
}

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.isComposing) return;
  if (event.key === "Escape") {
    clearAll();
  } else if ((event.ctrlKey || event.metaKey) && !event.shiftKey && event.key.toLowerCase() === "z") {
    event.preventDefault();
    undo();
  }
});

document.addEventListener("paste", (event) => {
  const pasted = imageFrom(event.clipboardData);
  if (pasted) {
    event.preventDefault();
    useFile(pasted);
  }
});

// Drop onto the pad reads the file; a drop elsewhere must not navigate away from the page.
let dragDepth = 0;
pad.addEventListener("dragenter", (e) => {
  e.preventDefault();
  dragDepth += 1;
  pad.classList.add("is-dragover");
});
pad.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) pad.classList.remove("is-dragover");
});
pad.addEventListener("dragover", (e) => {
  e.preventDefault();
  if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
});
pad.addEventListener("drop", (e) => {
  e.preventDefault();
  dragDepth = 0;
  pad.classList.remove("is-dragover");
  useFile(imageFrom(e.dataTransfer));
});
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => e.preventDefault());

new ResizeObserver(fitCanvas).observe(canvas);
window.addEventListener("resize", fitCanvas); // also fires when devicePixelRatio changes (zoom)
fitCanvas();
updateControls();
document.documentElement.classList.add("js");
