// The feedback row under an answer: "Yes, it's a 7" or "No, it's: 0…9" posts the person's digit
// to POST /api/feedback with the answer's signed sample token. One stored answer per drawing.

import { setDisabled } from "./dom.js";
import { UNREACHABLE, feedbackProblem, postFeedback } from "./requests.js";

/**
 * The row ``row`` (#feedback). ``versions`` (from reading.js ``createVersions``) says which drawing
 * and which request are current, so that a late answer is not shown for a newer drawing.
 */
export function createFeedback(row, { url, versions }) {
  const yes = row.querySelector("#feedback-yes");
  const buttons = [yes, ...row.querySelectorAll(".feedback-digit")];
  const notice = row.querySelector("#feedback-notice");
  const status = row.querySelector("#feedback-status");
  let sample = null; // the signed token of the answer the row is for
  let label = null; // the digit that answer read
  let busy = false;
  let storedFor = null; // {drawing, label} of the drawing whose answer was stored
  let storedOnce = false; // the person has stored an answer on this page: the notice is known

  function setEnabled(enabled) {
    for (const button of buttons) setDisabled(button, !enabled);
  }

  function setStatus(kind, text) {
    status.dataset.kind = kind;
    status.textContent = text;
  }

  /** The drawing is changing: its answer, and so its token, no longer apply. */
  function suspend() {
    sample = null;
    setEnabled(false);
  }

  async function send(button, digit) {
    if (!sample || busy || button.getAttribute("aria-disabled") === "true") return;
    const mine = versions.sequence();
    const mineDrawing = versions.drawing();
    const sent = sample;
    busy = true;
    setEnabled(false);
    button.setAttribute("aria-pressed", "true");
    setStatus("", "Storing…");
    let retry = true;
    try {
      const { status: code, data } = await postFeedback(url, sent, digit);
      if (code === 201) {
        const stored = data && Number.isInteger(data.label) ? data.label : digit;
        storedOnce = true;
        storedFor = { drawing: mineDrawing, label: stored };
        retry = false;
        if (mineDrawing !== versions.drawing()) return;
        // Still this drawing (perhaps read again by another model meanwhile): no second answer.
        sample = null;
        setEnabled(false);
        notice.hidden = true;
        setStatus("ok", `Thanks: stored as a ${stored}.`);
        return;
      }
      if (mine !== versions.sequence()) return;
      const problem = feedbackProblem(code, data);
      retry = problem.retry;
      setStatus("error", problem.text);
    } catch (error) {
      if (mine !== versions.sequence()) return;
      setStatus("error", UNREACHABLE);
    } finally {
      busy = false;
      if (retry && mine === versions.sequence() && sample === sent) {
        button.removeAttribute("aria-pressed");
        setEnabled(true);
      }
    }
  }

  yes.addEventListener("click", () => {
    if (label !== null) send(yes, label);
  });
  for (const button of buttons.slice(1)) {
    button.addEventListener("click", () => send(button, Number(button.dataset.label)));
  }

  return {
    /** Shows the row for a new answer (hidden when the answer carries no sample token). */
    offer(newSample, newLabel) {
      sample = newSample;
      label = newLabel;
      yes.textContent = `Yes, it's a ${newLabel}`;
      row.hidden = !newSample;
      notice.hidden = storedOnce;
      for (const button of buttons) button.removeAttribute("aria-pressed");
      if (storedFor && storedFor.drawing === versions.drawing()) {
        // This drawing's answer is stored already (another model read it now): one answer per drawing.
        sample = null;
        setEnabled(false);
        setStatus("ok", `Thanks: stored as a ${storedFor.label}.`);
      } else {
        setEnabled(Boolean(newSample));
        setStatus("", "");
      }
    },

    suspend,

    hide() {
      suspend();
      row.hidden = true;
      setStatus("", "");
    },
  };
}
