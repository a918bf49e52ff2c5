// Reading the input: POST /predict once the strokes have settled, then POST /api/explain with the
// same image. Only the answer for the latest input is shown: every new input bumps a sequence
// number, aborts the request in flight and leaves older answers unread.

import { TOO_SLOW, UNREACHABLE, postImage, predictErrorText } from "./requests.js";

const DEBOUNCE_MS = 250; // after a stroke ends, before predicting

/**
 * Which drawing and which request are current. The drawing changes with the strokes or the file
 * (a model switch keeps it); the sequence with every new request.
 */
export function createVersions() {
  let drawing = 0;
  let sequence = 0;
  return {
    drawing: () => drawing,
    sequence: () => sequence,
    newDrawing() {
      drawing += 1;
    },
    newSequence() {
      sequence += 1;
    },
  };
}

/**
 * Reads the input and shows the answers in ``answer`` (answer.js), ``explain`` (explain.js) and
 * ``feedback`` (feedback.js). ``image()`` gives the input as requests.js ``fileImage`` or
 * ``drawingImage`` builds it; ``model()`` the model to ask; ``onShown()`` runs after an answer or
 * an error is shown.
 */
export function createReading({ versions, answer, explain, feedback, urls, image, model, onShown }) {
  let debounceTimer = 0;
  let inFlight = null; // the /predict request in flight, from requests.js postImage
  let explaining = -1; // the sequence whose /api/explain request is in flight

  function updateExplainBusy() {
    explain.setBusy(answer.isBusy() || explaining === versions.sequence());
  }

  function setBusy(busy, state) {
    answer.setBusy(busy, state);
    updateExplainBusy();
  }

  /** Forgets any pending or in-flight prediction: its answer belongs to an older input. */
  function invalidate() {
    clearTimeout(debounceTimer);
    versions.newSequence();
    if (inFlight) inFlight.abort();
    inFlight = null;
    feedback.suspend();
    if (answer.isBusy()) setBusy(false, answer.previousState());
  }

  function showAnswer(data) {
    const label = answer.show(data);
    feedback.offer(typeof data.sample === "string" ? data.sample : null, label);
    setBusy(false, "ok");
    onShown();
  }

  function showError(text) {
    answer.showError(text);
    feedback.hide();
    explain.clear();
    setBusy(false, "error");
    onShown();
  }

  /** Posts the image /predict just read to /api/explain; shows the answer if it is still current. */
  async function explainReading(query, sent, mine) {
    explaining = mine;
    updateExplainBusy();
    try {
      const { ok, data } = await postImage(urls.explain + query, sent).answer;
      if (mine !== versions.sequence()) return;
      if (ok && data && Array.isArray(data.layers)) {
        explain.show(data);
      } else {
        explain.fail();
      }
    } catch (error) {
      if (mine === versions.sequence()) explain.fail();
    } finally {
      if (explaining === mine) explaining = -1;
      updateExplainBusy();
    }
  }

  async function predict() {
    clearTimeout(debounceTimer);
    // A blank pad is sent too: the server's "no digit found" is the answer to show.
    const sent = image();
    invalidate();
    const mine = versions.sequence();
    const query = `?model=${encodeURIComponent(model())}`;
    setBusy(true);
    const request = postImage(urls.predict + query, sent);
    inFlight = request;
    try {
      const { status, ok, data } = await request.answer;
      if (mine !== versions.sequence()) return;
      if (ok && data && Array.isArray(data.probabilities)) {
        showAnswer(data);
        explainReading(query, sent, mine);
      } else {
        showError(predictErrorText(status, data, sent));
      }
    } catch (error) {
      if (mine !== versions.sequence()) return;
      showError(request.timedOut() ? TOO_SLOW : UNREACHABLE);
    } finally {
      if (inFlight === request) inFlight = null;
    }
  }

  return {
    predict,
    invalidate,

    /** Predicts once the input has been still for DEBOUNCE_MS. */
    schedule() {
      clearTimeout(debounceTimer);
      setBusy(true); // the answer shown is for an older drawing until the new one arrives
      debounceTimer = setTimeout(predict, DEBOUNCE_MS);
    },

    /** Nothing to read: every part of the answer back to empty. */
    showEmpty() {
      answer.showEmpty();
      feedback.hide();
      explain.clear();
      setBusy(false, "empty");
    },
  };
}
