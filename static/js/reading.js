// Reading the input: one request per input, once the strokes have settled. A digit goes to POST
// /predict, with ?explain=1 when "Inside the network" is open so that what it shows comes with the
// reading (the image is preprocessed once); a number goes to POST /api/read. Opening the panel
// after a reading asks /api/explain once, for that reading only. Only the answer for the latest
// input is shown: every new input bumps a sequence number, aborts the request in flight and leaves
// older answers unread.

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
 * Reads the input and shows the answers in ``answer`` (answer.js), ``explain`` (explain.js),
 * ``feedback`` (feedback.js) and, for a number, ``boxes`` (boxes.js). ``image()`` gives the input as
 * requests.js ``fileImage`` or ``drawingImage`` builds it; ``mode()`` "digit" or "number";
 * ``target()`` the element showing the input (the boxes are drawn over it); ``model()`` the model
 * to ask; ``onShown()`` runs after an answer or an error is shown.
 */
export function createReading(parts) {
  const { versions, answer, explain, feedback, boxes, urls, image, mode, target, model, onShown } = parts;
  let debounceTimer = 0;
  let inFlight = null; // the /predict or /api/read request in flight, from requests.js postImage
  let explaining = -1; // the sequence whose /api/explain request is in flight
  let read = null; // {sequence, query, sent}: the digit last read, which the panel may ask about
  let explained = -1; // the sequence whose explanation is shown (or was asked for)

  function updateExplainBusy() {
    explain.setBusy(answer.isBusy() || explaining === versions.sequence());
  }

  function setBusy(busy, state) {
    answer.setBusy(busy, state);
    boxes.setStale(busy);
    updateExplainBusy();
  }

  /** Forgets any pending or in-flight prediction: its answer belongs to an older input. */
  function invalidate() {
    clearTimeout(debounceTimer);
    versions.newSequence();
    if (inFlight) inFlight.abort();
    inFlight = null;
    read = null;
    feedback.suspend();
    if (answer.isBusy()) setBusy(false, answer.previousState());
  }

  function showDigit(data, mine, query, sent) {
    const label = answer.show(data);
    feedback.offer(typeof data.sample === "string" ? data.sample : null, label);
    boxes.clear();
    read = { sequence: mine, query, sent };
    if (Array.isArray(data.layers)) {
      explained = mine;
      explain.show(data);
    } else {
      explain.clear();
      // The panel was opened while this reading was on its way without the explanation: ask now.
      if (explain.isOpen()) explainReading();
    }
    setBusy(false, "ok");
    onShown();
  }

  function showNumber(data, sent) {
    answer.showNumber(data);
    feedback.hide(); // feedback stores one digit's 28x28 image: not a number's
    explain.clear();
    boxes.show(data.digits, sent.size, target());
    setBusy(false, "ok");
    onShown();
  }

  function showError(text) {
    answer.showError(text);
    feedback.hide();
    explain.clear();
    boxes.clear();
    setBusy(false, "error");
    onShown();
  }

  /** Posts the digit last read to /api/explain, once; shows the answer if it is still current. */
  async function explainReading() {
    if (!read || read.sequence !== versions.sequence() || explained === read.sequence) return;
    const { sequence: mine, query, sent } = read;
    explained = mine;
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
    const number = mode() === "number";
    const query = `?model=${encodeURIComponent(model())}`;
    const url = number ? urls.read + query : urls.predict + query + (explain.isOpen() ? "&explain=1" : "");
    setBusy(true);
    const request = postImage(url, sent);
    inFlight = request;
    try {
      const { status, ok, data } = await request.answer;
      if (mine !== versions.sequence()) return;
      if (number && ok && data && Array.isArray(data.digits) && data.digits.length) {
        showNumber(data, sent);
      } else if (!number && ok && data && Array.isArray(data.probabilities)) {
        showDigit(data, mine, query, sent);
      } else {
        showError(predictErrorText(status, data, sent, number));
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

    /** The panel was opened: the digit read (if any) is explained, once. */
    explainLatest: explainReading,

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
      boxes.clear();
      setBusy(false, "empty");
    },
  };
}
