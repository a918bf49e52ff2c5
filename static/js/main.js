// The drawing page's entry point: finds the page's parts, makes each module own its part, and
// wires what one part does to the others (a stroke or a file is a new drawing to read; Undo,
// Clear, Esc, Ctrl+Z, the mode and the model choice).
//
// mode.js says whether a digit or a number is read, pad.js draws, files.js takes files (shrink.js
// scales a large one down), reading.js asks the server (requests.js) and shows the answers in
// answer.js (the prediction card), boxes.js (a number's digits over the drawing), explain.js
// ("Inside the network") and feedback.js.

import { createAnswer } from "./answer.js";
import { createBoxes } from "./boxes.js";
import { setDisabled } from "./dom.js";
import { createExplain } from "./explain.js";
import { createFeedback } from "./feedback.js";
import { createFiles } from "./files.js";
import { createMode } from "./mode.js";
import { createPad } from "./pad.js";
import { createReading, createVersions } from "./reading.js";
import { drawingImage, fileImage } from "./requests.js";
import { shrinkImage } from "./shrink.js";

const ASPECT = { digit: 1, number: 2 }; // the pad's width over its height in each mode (style.css follows)

const $ = (selector) => document.querySelector(selector);

const app = $("#app");
const canvas = $("#canvas");
const padEl = $("#pad");
const padHint = $("#pad-hint");
const undoButton = $("#undo");
const clearButton = $("#clear");

const mode = createMode(app, [...document.querySelectorAll('input[name="mode"]')], { onChange: switchMode });
const answer = createAnswer($("#result"), $("#quick"));
const explain = createExplain($("#explain"), { onOpen: () => reading.explainLatest() });
const boxes = createBoxes($("#boxes"), padEl);
const versions = createVersions();
const feedback = createFeedback($("#feedback"), { url: app.dataset.feedbackUrl || "/api/feedback", versions });
const reading = createReading({
  versions,
  answer,
  explain,
  feedback,
  boxes,
  urls: {
    predict: app.dataset.predictUrl || "/predict",
    read: app.dataset.readUrl || "/api/read",
    explain: app.dataset.explainUrl || "/api/explain",
  },
  image: currentImage,
  mode: mode.current,
  target: () => (files.current() ? files.previewElement() : canvas),
  model: selectedModel,
  onShown: updateControls,
});
const pad = createPad(canvas, { onStrokeStart, onStrokeEnd, aspect: ASPECT[mode.current()] });
const files = createFiles({ pad: padEl, upload: $("#upload"), onFile: useFile });
explain.setAvailable(mode.current() === "digit");
files.previewElement().addEventListener("load", () => boxes.refit());
let preparing = 0; // bumped by every new input: a file still being scaled down when it changes is dropped

function currentImage() {
  const prepared = files.prepared();
  return prepared ? fileImage(prepared) : drawingImage(pad.toPng(), pad.strokeCount() > 0, pad.exportSize());
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

/** A new input replaces the old one: its reading, and its boxes, no longer apply. */
function newInput() {
  preparing += 1;
  versions.newDrawing();
  reading.invalidate(); // whatever was asked about the previous drawing no longer matters
  boxes.clear();
}

function onStrokeStart() {
  if (files.current()) files.forget();
  newInput();
  updateControls();
}

function onStrokeEnd() {
  updateControls();
  reading.schedule();
}

async function useFile(file) {
  pad.clear();
  files.use(file);
  newInput();
  const mine = preparing;
  answer.setBusy(true);
  updateControls();
  let prepared;
  try {
    prepared = await shrinkImage(file);
  } catch (error) {
    prepared = { blob: file, name: file.name || "image", size: null }; // sent as it is: the server says
  }
  if (mine !== preparing) return; // another input came meanwhile
  files.setPrepared(prepared);
  reading.predict();
}

/** Digit or Number: the pad changes shape, keeping the strokes that fit, and the input is read again. */
function switchMode(newMode) {
  pad.setAspect(ASPECT[newMode]);
  explain.setAvailable(newMode === "digit");
  const file = files.current();
  if (file && !files.prepared()) {
    useFile(file); // still being scaled down: start again, for the new mode
    return;
  }
  newInput();
  if (files.prepared() || pad.strokeCount()) {
    reading.predict();
  } else {
    reading.showEmpty();
  }
  updateControls();
}

function undo() {
  if (!pad.undo()) return;
  newInput();
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
  newInput();
  reading.showEmpty();
  updateControls();
}

$("#predict").addEventListener("click", () => {
  if (files.current() && !files.prepared()) return; // read as soon as it is scaled down
  reading.predict();
});
undoButton.addEventListener("click", undo);
clearButton.addEventListener("click", clearAll);

for (const radio of document.querySelectorAll('input[name="model"]')) {
  radio.addEventListener("change", () => {
    if (files.prepared() || pad.strokeCount()) reading.predict();
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
