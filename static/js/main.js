// The drawing page's entry point: finds the page's parts, makes each module own its part, and
// wires what one part does to the others (a stroke or a file is a new drawing to read; Undo,
// Clear, Esc, Ctrl+Z and the model choice).
//
// pad.js draws, files.js takes files, reading.js asks the server (requests.js) and shows the
// answers in answer.js (the prediction card), explain.js ("Inside the network") and feedback.js.

import { createAnswer } from "./answer.js";
import { setDisabled } from "./dom.js";
import { createExplain } from "./explain.js";
import { createFeedback } from "./feedback.js";
import { createFiles } from "./files.js";
import { createPad } from "./pad.js";
import { createReading, createVersions } from "./reading.js";
import { drawingImage, fileImage } from "./requests.js";

const $ = (selector) => document.querySelector(selector);

const app = $("#app");
const canvas = $("#canvas");
const padEl = $("#pad");
const padHint = $("#pad-hint");
const undoButton = $("#undo");
const clearButton = $("#clear");

const answer = createAnswer($("#result"), $("#quick"));
const explain = createExplain($("#explain"));
const versions = createVersions();
const feedback = createFeedback($("#feedback"), { url: app.dataset.feedbackUrl || "/api/feedback", versions });
const reading = createReading({
  versions,
  answer,
  explain,
  feedback,
  urls: { predict: app.dataset.predictUrl || "/predict", explain: app.dataset.explainUrl || "/api/explain" },
  image: currentImage,
  model: selectedModel,
  onShown: updateControls,
});
const pad = createPad(canvas, { onStrokeStart, onStrokeEnd });
const files = createFiles({ pad: padEl, upload: $("#upload"), onFile: useFile });

function currentImage() {
  const file = files.current();
  return file ? fileImage(file) : drawingImage(pad.toPng(), pad.strokeCount() > 0);
}

function selectedModel() {
  const checked = document.querySelector('input[name="model"]:checked');
  return checked ? checked.value : app.dataset.defaultModel || "";
}

function updateControls() {
  const count = pad.strokeCount() + (pad.isDrawing() ? 1 : 0);
  setDisabled(undoButton, pad.strokeCount() === 0);
  setDisabled(clearButton, count === 0 && !files.current() && answer.isBlank());
  padEl.classList.toggle("is-empty", count === 0);
  padHint.hidden = count > 0 || Boolean(files.current());
  canvas.setAttribute(
    "aria-label",
    count === 0 ? "Drawing pad, empty" : `Drawing pad, ${count} stroke${count === 1 ? "" : "s"} drawn`,
  );
}

function onStrokeStart() {
  if (files.current()) files.forget();
  versions.newDrawing();
  reading.invalidate(); // whatever was asked about the previous drawing no longer matters
  updateControls();
}

function onStrokeEnd() {
  updateControls();
  reading.schedule();
}

function useFile(file) {
  pad.clear();
  files.use(file);
  versions.newDrawing();
  updateControls();
  reading.predict();
}

function undo() {
  if (!pad.undo()) return;
  versions.newDrawing();
  reading.invalidate();
  if (pad.strokeCount()) {
    reading.schedule();
  } else {
    reading.showEmpty();
  }
  updateControls();
}

function clearAll() {
  pad.clear();
  files.forget();
  versions.newDrawing();
  reading.invalidate();
  reading.showEmpty();
  updateControls();
}

$("#predict").addEventListener("click", () => reading.predict());
undoButton.addEventListener("click", undo);
clearButton.addEventListener("click", clearAll);

for (const radio of document.querySelectorAll('input[name="model"]')) {
  radio.addEventListener("change", () => {
    if (files.current() || pad.strokeCount()) reading.predict();
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

updateControls();
document.documentElement.classList.add("js");
