// Digit or Number: what the pad reads. A segmented control of two radio buttons (so the arrow keys
// move between them, as in any radio group); the choice is kept in localStorage and shown in the
// address as #number (a link to #number or #digit opens the page in that mode).

const MODES = ["digit", "number"];
const STORE_KEY = "digits.mode";

function stored() {
  try {
    return window.localStorage.getItem(STORE_KEY);
  } catch (error) {
    return null; // storage refused (a privacy setting): the default, as on a first visit
  }
}

function store(mode) {
  try {
    window.localStorage.setItem(STORE_KEY, mode);
  } catch (error) {
    // Not remembered across visits; the address still says it.
  }
}

/** The mode the page opens in: the address's, else the one last chosen, else "digit". */
function initial() {
  const asked = window.location.hash.slice(1);
  if (MODES.includes(asked)) return asked;
  const last = stored();
  return MODES.includes(last) ? last : "digit";
}

/** Says the mode in the address, unless the address points at a part of the page (#result). */
function showInAddress(mode) {
  const hash = window.location.hash.slice(1);
  if (hash && !MODES.includes(hash)) return;
  const url = new URL(window.location.href);
  url.hash = mode === "digit" ? "" : mode;
  window.history.replaceState(window.history.state, "", url.href.replace(/#$/, ""));
}

/**
 * The radio buttons ``inputs`` (name="mode", values "digit" and "number") and ``app``, whose
 * data-mode the CSS follows. ``onChange(mode)`` runs when the person picks the other mode.
 */
export function createMode(app, inputs, { onChange }) {
  let mode = initial();
  app.dataset.mode = mode;
  for (const input of inputs) input.checked = input.value === mode;

  function pick(newMode) {
    if (newMode === mode) return;
    mode = newMode;
    app.dataset.mode = mode;
    for (const input of inputs) input.checked = input.value === mode;
    store(mode);
    showInAddress(mode);
    onChange(mode);
  }

  for (const input of inputs) {
    input.addEventListener("change", () => {
      if (input.checked) pick(input.value);
    });
  }
  // A link to #number or #digit followed on the page itself switches too.
  window.addEventListener("hashchange", () => {
    const asked = window.location.hash.slice(1);
    if (MODES.includes(asked)) pick(asked);
  });
  return {
    /** "digit" or "number". */
    current: () => mode,
  };
}
