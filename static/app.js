// The drawing page: a pad that keeps its strokes as data, and the answers of POST /predict.
//
// Strokes are arrays of points in pad-relative 0..1 coordinates, so the drawing is redrawn
// crisply at any size (resize, rotation, zoom) and Undo simply drops the last one. What is
// sent is a fixed 280x280 PNG of the strokes: dark opaque ink on transparent pixels.
//
// After each answer the same image goes to POST /api/explain ("Inside the network": the
// hidden layers' activations and the first layer's most active units), and a feedback row
// posts the person's digit to POST /api/feedback with the answer's signed sample token.

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
const feedback = $("#feedback");
const feedbackYes = $("#feedback-yes");
const feedbackButtons = [feedbackYes, ...document.querySelectorAll("#feedback .feedback-digit")];
const feedbackNotice = $("#feedback-notice");
const feedbackStatus = $("#feedback-status");
const explainPanel = $("#explain");
const explainEmpty = $("#explain-empty");
const explainNote = $("#explain-note");
const explainLayers = $("#explain-layers");
const explainUnits = $("#explain-units");
const unitsHeading = $("#units-heading");
const unitsList = $("#units");

const predictUrl = app.dataset.predictUrl || "/predict";
const explainUrl = app.dataset.explainUrl || "/api/explain";
const feedbackUrl = app.dataset.feedbackUrl || "/api/feedback";
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
let drawing = 0; // bumped when the drawing (or file) changes; a model switch keeps it
let explaining = -1; // the sequence whose /api/explain request is in flight
let strips = []; // the activation strips shown: {canvas, values, max}
let stripWidth = 0; // the width they were drawn for
let feedbackSample = null; // the signed token of the answer the feedback row is for
let feedbackLabel = null; // the digit that answer read
let feedbackBusy = false;
let storedFor = null; // {drawing, label} of the drawing whose answer was stored
let storedOnce = false; // the person has stored an answer on this page: the notice is known

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
  drawing += 1;
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
  drawing += 1;
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
  drawing += 1;
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
  drawing += 1;
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
  suspendFeedback();
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
  const query = `?model=${encodeURIComponent(selectedModel())}`;
  try {
    const response = await fetch(predictUrl + query, { method: "POST", headers, body, signal: controller.signal });
    const data = await response.json().catch(() => null);
    if (mine !== sequence) return;
    if (response.ok && data && Array.isArray(data.probabilities)) {
      showAnswer(data);
      explain(query, headers, body, mine);
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
  updateExplainBusy();
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
  offerFeedback(typeof data.sample === "string" ? data.sample : null, label);
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
  hideFeedback();
  clearExplanation();
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
  hideFeedback();
  clearExplanation();
  setBusy(false, "empty");
}

// ---- Inside the network: POST /api/explain -----------------------------------------------

const STRIP_COLUMNS = 40; // cells per row of an activation strip
const STRIP_CELL = 14; // largest cell side, CSS px
const STRIP_BACKGROUND = "#0b0d14";
const STRIP_DARK = [38, 43, 58]; // a silent unit
const STRIP_BRIGHT = [255, 255, 255]; // the layer's most active unit
const TOP_EXCITATION = 0.75; // units at least this excited get the accent outline
const ORDINALS = ["first", "second", "third", "fourth", "fifth"];
const ACTIVATION_NAMES = { relu: "ReLU", sigmoid: "sigmoid", tanh: "tanh" };

/** A number as people read it: 3.2, 0.87, 12. */
function formatValue(v) {
  const a = Math.abs(v);
  if (a >= 9.95) return v.toFixed(0);
  if (a >= 0.995) return v.toFixed(1);
  return v.toFixed(2);
}

function updateExplainBusy() {
  const busy = result.dataset.state === "busy" || explaining === sequence;
  explainPanel.setAttribute("aria-busy", String(busy));
  explainPanel.classList.toggle("is-busy", busy);
}

/** Posts the body /predict just read to /api/explain; shows the answer if it is still current. */
async function explain(query, headers, body, mine) {
  explaining = mine;
  updateExplainBusy();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const response = await fetch(explainUrl + query, { method: "POST", headers, body, signal: controller.signal });
    const data = await response.json().catch(() => null);
    if (mine !== sequence) return;
    if (response.ok && data && Array.isArray(data.layers)) {
      showExplanation(data);
    } else {
      explainFailed();
    }
  } catch (error) {
    if (mine === sequence) explainFailed();
  } finally {
    clearTimeout(timer);
    if (explaining === mine) explaining = -1;
    updateExplainBusy();
  }
}

function explainFailed() {
  clearExplanation();
  explainEmpty.hidden = true;
  explainNote.textContent = "The inside of the network can't be shown for this image right now.";
  explainPanel.dataset.state = "error";
}

function clearExplanation() {
  strips = [];
  explainLayers.replaceChildren();
  unitsList.replaceChildren();
  unitsHeading.textContent = "";
  explainUnits.hidden = true;
  explainNote.textContent = "";
  explainEmpty.hidden = false;
  explainPanel.dataset.state = "empty";
}

function showExplanation(data) {
  clearExplanation();
  const units = data.units && Array.isArray(data.units.items) ? data.units : null;
  data.layers.forEach((layer, i) => {
    const values = Array.isArray(layer.values) ? layer.values.map((v) => Math.max(0, Number(v) || 0)) : [];
    const index = Number.isInteger(layer.index) ? layer.index : i + 1;
    const size = Number.isInteger(layer.size) ? layer.size : values.length;
    let top = 0;
    values.forEach((v, u) => {
      if (v > values[top]) top = u;
    });
    const max = Number(layer.max) > 0 ? Number(layer.max) : values[top] || 0;
    const strong = values.filter((v) => max > 0 && v >= max / 2).length;
    const silent = values.filter((v) => v === 0).length;
    // The layer's most active unit, numbered as the units grid numbers them when it shows this layer.
    const topUnit = units && units.layer === index && units.items.length ? units.items[0].unit : top;
    const name = ACTIVATION_NAMES[layer.activation] || String(layer.activation || "");

    const section = document.createElement("section");
    section.className = "layer";
    const title = document.createElement("h3");
    title.className = "layer-title";
    title.id = `layer-${index}-title`;
    title.textContent = `Hidden layer ${index} · ${size} units${name ? ` (${name})` : ""}`;
    section.setAttribute("aria-labelledby", title.id);
    const strip = document.createElement("canvas");
    strip.className = "strip";
    strip.dataset.units = String(values.length);
    strip.setAttribute("role", "img");
    strip.setAttribute(
      "aria-label",
      `Activations of the ${size} units of hidden layer ${index}, one square each, brighter for a stronger one: ` +
        `${strong} fire at least half as strongly as the strongest, unit ${topUnit} at ${formatValue(max)}` +
        (silent ? `; ${silent} are silent.` : "."),
    );
    section.append(title, strip);
    explainLayers.append(section);
    strips.push({ canvas: strip, values, max });
  });
  stripWidth = explainLayers.clientWidth;
  for (const s of strips) drawStrip(s);

  if (units && units.items.length) {
    const shown = units.items.length;
    const of = Number.isInteger(units.of) ? units.of : shown;
    const layer = Number.isInteger(units.layer) ? units.layer : 1;
    const where = layer >= 1 && layer <= ORDINALS.length ? `the ${ORDINALS[layer - 1]} hidden layer` : `hidden layer ${layer}`;
    const what = "each picture is the unit's incoming weights (orange: ink here excites it, blue: ink here inhibits it)";
    unitsHeading.textContent =
      shown < of
        ? `The ${shown} most active of ${of} units in ${where}: ${what}`
        : `All ${of} units in ${where}, most active first: ${what}`;
    for (const item of units.items) unitsList.append(unitCell(item));
    explainUnits.hidden = false;
  }
  explainEmpty.hidden = true;
  explainPanel.dataset.state = "ok";
}

/** One unit of the grid: its incoming weights as a picture, as visible as it is excited. */
function unitCell(item) {
  const activation = Number(item.activation) || 0;
  const excitation = Math.min(1, Math.max(0, Number(item.excitation) || 0));
  const text = `unit ${item.unit}, activation ${formatValue(activation)}`;
  const li = document.createElement("li");
  li.className = "unit";
  li.classList.toggle("is-top", excitation >= TOP_EXCITATION);
  li.title = text;
  const picture = document.createElement("img");
  picture.className = "unit-weights";
  picture.width = 28;
  picture.height = 28;
  picture.alt = text;
  picture.decoding = "async";
  if (typeof item.weights === "string" && item.weights.startsWith("data:image/")) picture.src = item.weights;
  picture.style.opacity = (0.35 + 0.65 * excitation).toFixed(3);
  const caption = document.createElement("span");
  caption.className = "unit-caption";
  caption.setAttribute("aria-hidden", "true");
  const number = document.createElement("span");
  number.className = "unit-number";
  number.textContent = `#${item.unit}`;
  const value = document.createElement("span");
  value.className = "unit-value";
  value.textContent = formatValue(activation);
  caption.append(number, value);
  li.append(picture, caption);
  return li;
}

/** Draws a layer's activations as a grid of squares as wide as its box allows, sharp at any zoom. */
function drawStrip({ canvas: strip, values, max }) {
  const width = strip.parentElement ? strip.parentElement.clientWidth : 0;
  const n = values.length;
  const columns = Math.max(1, Math.min(n, STRIP_COLUMNS));
  const rows = Math.max(1, Math.ceil(n / columns));
  const cell = Math.max(3, Math.min(STRIP_CELL, Math.floor((width || columns * STRIP_CELL) / columns)));
  const gap = cell >= 6 ? 1 : 0;
  const ratio = window.devicePixelRatio || 1;
  strip.style.width = `${columns * cell}px`;
  strip.style.height = `${rows * cell}px`;
  strip.width = Math.round(columns * cell * ratio);
  strip.height = Math.round(rows * cell * ratio);
  const context = strip.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.fillStyle = STRIP_BACKGROUND;
  context.fillRect(0, 0, columns * cell, rows * cell);
  for (let u = 0; u < n; u++) {
    const t = max > 0 ? Math.min(1, values[u] / max) : 0;
    const [r, g, b] = STRIP_DARK.map((dark, c) => Math.round(dark + (STRIP_BRIGHT[c] - dark) * t));
    context.fillStyle = `rgb(${r} ${g} ${b})`;
    context.fillRect((u % columns) * cell + gap, Math.floor(u / columns) * cell + gap, cell - gap, cell - gap);
  }
}

function refitStrips() {
  const width = explainLayers.clientWidth;
  if (!strips.length || width === stripWidth) return;
  stripWidth = width;
  for (const s of strips) drawStrip(s);
}

// ---- Feedback: POST /api/feedback --------------------------------------------------------

/** Shows the feedback row for a new answer (hidden when the answer carries no sample token). */
function offerFeedback(sample, label) {
  feedbackSample = sample;
  feedbackLabel = label;
  feedbackYes.textContent = `Yes, it's a ${label}`;
  feedback.hidden = !sample;
  feedbackNotice.hidden = storedOnce;
  for (const button of feedbackButtons) button.removeAttribute("aria-pressed");
  if (storedFor && storedFor.drawing === drawing) {
    // This drawing's answer is stored already (another model read it now): one answer per drawing.
    feedbackSample = null;
    setFeedbackEnabled(false);
    setFeedbackStatus("ok", `Thanks: stored as a ${storedFor.label}.`);
  } else {
    setFeedbackEnabled(Boolean(sample));
    setFeedbackStatus("", "");
  }
}

/** The drawing is changing: its answer, and so its token, no longer apply. */
function suspendFeedback() {
  feedbackSample = null;
  setFeedbackEnabled(false);
}

function hideFeedback() {
  suspendFeedback();
  feedback.hidden = true;
  setFeedbackStatus("", "");
}

function setFeedbackEnabled(enabled) {
  for (const button of feedbackButtons) setDisabled(button, !enabled);
}

function setFeedbackStatus(kind, text) {
  feedbackStatus.dataset.kind = kind;
  feedbackStatus.textContent = text;
}

async function sendFeedback(button, label) {
  if (!feedbackSample || feedbackBusy || button.getAttribute("aria-disabled") === "true") return;
  const mine = sequence;
  const mineDrawing = drawing;
  const sample = feedbackSample;
  feedbackBusy = true;
  setFeedbackEnabled(false);
  button.setAttribute("aria-pressed", "true");
  setFeedbackStatus("", "Storing…");
  let retry = true;
  try {
    const response = await fetch(feedbackUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ sample, label }),
    });
    const data = await response.json().catch(() => null);
    if (response.status === 201) {
      const stored = data && Number.isInteger(data.label) ? data.label : label;
      storedOnce = true;
      storedFor = { drawing: mineDrawing, label: stored };
      retry = false;
      if (mineDrawing !== drawing) return;
      // Still this drawing (perhaps read again by another model meanwhile): no second answer.
      feedbackSample = null;
      setFeedbackEnabled(false);
      feedbackNotice.hidden = true;
      setFeedbackStatus("ok", `Thanks: stored as a ${stored}.`);
      return;
    }
    if (mine !== sequence) return;
    const error = data && data.error;
    const detail = error && typeof error.message === "string" ? error.message.trim() : "";
    if (response.status === 503 || (error && error.code === "feedback_unavailable")) {
      // The server's message may say "feedback cannot be stored right now: why" itself.
      const why = detail.replace(/^feedback (cannot|can't|can not) be stored right now:\s*/i, "");
      setFeedbackStatus("error", sentence(`Feedback can't be stored right now: ${why || "please try again later"}`));
    } else {
      // A 4xx other than 429 (a bad or expired token, say) will not go better on a second try.
      retry = response.status >= 500 || response.status === 429;
      setFeedbackStatus("error", sentence(detail || `The server answered with an error (${response.status})`));
    }
  } catch (error) {
    if (mine !== sequence) return;
    setFeedbackStatus("error", "Could not reach the server. Check your connection and try again.");
  } finally {
    feedbackBusy = false;
    if (retry && mine === sequence && feedbackSample === sample) {
      button.removeAttribute("aria-pressed");
      setFeedbackEnabled(true);
    }
  }
}

/** ``text`` with a capital first letter and a full stop. */
function sentence(text) {
  let s = text.trim();
  s = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
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
feedbackYes.addEventListener("click", () => {
  if (feedbackLabel !== null) sendFeedback(feedbackYes, feedbackLabel);
});
for (const button of feedbackButtons.slice(1)) {
  button.addEventListener("click", () => sendFeedback(button, Number(button.dataset.label)));
}
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
new ResizeObserver(refitStrips).observe(explainLayers);
window.addEventListener("resize", fitCanvas); // also fires when devicePixelRatio changes (zoom)
fitCanvas();
updateControls();
document.documentElement.classList.add("js");
