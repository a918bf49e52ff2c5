// "Inside the network": the answer of POST /api/explain (or of /predict?explain=1), the hidden
// layers' activations as strips of squares and the first layer's most active units as pictures of
// their incoming weights. The panel opens and closes (a disclosure button; the choice is kept in
// localStorage): the page asks for what it shows only while it is open.

import { setDisabled } from "./dom.js";

const STRIP_COLUMNS = 40; // cells per row of an activation strip
const STRIP_CELL = 14; // largest cell side, CSS px
const STRIP_BACKGROUND = "#0b0d14";
const STRIP_DARK = [38, 43, 58]; // a silent unit
const STRIP_BRIGHT = [255, 255, 255]; // the layer's most active unit
const TOP_EXCITATION = 0.75; // units at least this excited get the accent outline
const WEIGHTS_SIDE = 28; // px of a unit's weight picture: one per input pixel (model/shape.py SIDE)
const ORDINALS = ["first", "second", "third", "fourth", "fifth"];
const ACTIVATION_NAMES = { relu: "ReLU", sigmoid: "sigmoid", tanh: "tanh" };
const OPEN_KEY = "digits.explain"; // localStorage: "open" when the person left the panel open

function storedOpen() {
  try {
    return window.localStorage.getItem(OPEN_KEY) === "open";
  } catch (error) {
    return false; // storage refused (a privacy setting): closed, as on a first visit
  }
}

function storeOpen(open) {
  try {
    window.localStorage.setItem(OPEN_KEY, open ? "open" : "closed");
  } catch (error) {
    // Not remembered across visits; the panel still opens and closes.
  }
}

/** A number as people read it: 3.2, 0.87, 12. */
function formatValue(v) {
  const a = Math.abs(v);
  if (a >= 9.95) return v.toFixed(0);
  if (a >= 0.995) return v.toFixed(1);
  return v.toFixed(2);
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
  picture.width = WEIGHTS_SIDE;
  picture.height = WEIGHTS_SIDE;
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

/** One hidden layer of an /api/explain answer: its title and its strip, and the strip's data. */
function layerSection(layer, i, units) {
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
  return { section, strip: { canvas: strip, values, max } };
}

/** The heading of the units grid: which units of which layer, and how to read the pictures. */
function unitsTitle(units) {
  const shown = units.items.length;
  const of = Number.isInteger(units.of) ? units.of : shown;
  const layer = Number.isInteger(units.layer) ? units.layer : 1;
  const where = layer >= 1 && layer <= ORDINALS.length ? `the ${ORDINALS[layer - 1]} hidden layer` : `hidden layer ${layer}`;
  const what = "each picture is the unit's incoming weights (orange: ink here excites it, blue: ink here inhibits it)";
  return shown < of
    ? `The ${shown} most active of ${of} units in ${where}: ${what}`
    : `All ${of} units in ${where}, most active first: ${what}`;
}

/**
 * The panel ``panel`` (#explain): its data-state is "empty", "ok" or "error", its data-open "true"
 * or "false". ``onOpen()`` runs when the person opens it.
 */
export function createExplain(panel, { onOpen = () => {} } = {}) {
  const toggle = panel.querySelector("#explain-toggle");
  const content = panel.querySelector("#explain-content");
  const empty = panel.querySelector("#explain-empty");
  const note = panel.querySelector("#explain-note");
  const layers = panel.querySelector("#explain-layers");
  const unitsBlock = panel.querySelector("#explain-units");
  const unitsHeading = panel.querySelector("#units-heading");
  const unitsList = panel.querySelector("#units");
  let strips = []; // the activation strips shown: {canvas, values, max}
  let stripWidth = 0; // the width they were drawn for

  function clear() {
    strips = [];
    layers.replaceChildren();
    unitsList.replaceChildren();
    unitsHeading.textContent = "";
    unitsBlock.hidden = true;
    note.textContent = "";
    empty.hidden = false;
    panel.dataset.state = "empty";
  }

  function refit() {
    const width = layers.clientWidth;
    if (!strips.length || width === stripWidth) return;
    stripWidth = width;
    for (const s of strips) drawStrip(s);
  }

  new ResizeObserver(refit).observe(layers);

  let available = true; // false in number mode: the panel shows one digit's reading
  let open = storedOpen(); // the person's choice, kept while the panel is unavailable
  function render() {
    const shown = available && open;
    toggle.setAttribute("aria-expanded", String(shown));
    setDisabled(toggle, !available);
    content.hidden = !shown;
    panel.dataset.open = String(shown);
    panel.dataset.available = String(available);
  }
  render();
  toggle.addEventListener("click", () => {
    if (!available) return;
    open = !open;
    storeOpen(open);
    render();
    if (open) onOpen();
  });

  return {
    clear,

    /** Whether the panel is open, so that a reading should bring what it shows. */
    isOpen: () => available && open,

    /** Whether there is anything to look inside: not in number mode (the panel says so). */
    setAvailable(yes) {
      available = yes;
      render();
    },

    /** Says a request for the panel is in flight (or none is). */
    setBusy(busy) {
      panel.setAttribute("aria-busy", String(busy));
      panel.classList.toggle("is-busy", busy);
    },

    /** Shows an /api/explain answer. */
    show(data) {
      clear();
      const units = data.units && Array.isArray(data.units.items) ? data.units : null;
      data.layers.forEach((layer, i) => {
        const { section, strip } = layerSection(layer, i, units);
        layers.append(section);
        strips.push(strip);
      });
      stripWidth = layers.clientWidth;
      for (const s of strips) drawStrip(s);

      if (units && units.items.length) {
        unitsHeading.textContent = unitsTitle(units);
        for (const item of units.items) unitsList.append(unitCell(item));
        unitsBlock.hidden = false;
      }
      empty.hidden = true;
      panel.dataset.state = "ok";
    },

    /** Says the panel cannot be shown for this input. */
    fail() {
      clear();
      empty.hidden = true;
      note.textContent = "The inside of the network can't be shown for this image right now.";
      panel.dataset.state = "error";
    },
  };
}
