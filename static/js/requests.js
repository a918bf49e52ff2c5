// The page's requests: POST /predict, /api/read and /api/explain with the image, POST
// /api/feedback with the person's digit, and the sentences their failures are shown as.

import { sentence } from "./dom.js";

const TIMEOUT_MS = 20000;
const JSON_ONLY = { Accept: "application/json" };

export const UNREACHABLE = "Could not reach the server. Check your connection and try again.";
export const TOO_SLOW = "The server took too long to answer. Please try again.";
const JUST_A_DOT = "That looks like a dot, not a digit: draw the whole digit.";

/**
 * An uploaded, pasted or dropped file as shrink.js ``shrinkImage`` prepared it (``{blob, name,
 * size}``), sent as multipart form data. Every image carries its ``size`` in px ({width, height},
 * or null when unknown): an answer's boxes are in those pixels.
 */
export function fileImage(prepared) {
  const body = new FormData();
  body.append("image", prepared.blob, prepared.name);
  return { body, headers: JSON_ONLY, fromFile: true, size: prepared.size };
}

/** The pad's PNG data URL of ``size`` px, sent as JSON; ``inked``: at least one stroke is drawn on it. */
export function drawingImage(dataUrl, inked, size) {
  return {
    body: JSON.stringify({ image: dataUrl }),
    headers: { "Content-Type": "application/json", ...JSON_ONLY },
    fromFile: false,
    inked,
    size,
  };
}

/** Sends the request; resolves to its status and JSON body (null when the body is not JSON). */
async function send(url, init) {
  const response = await fetch(url, init);
  const data = await response.json().catch(() => null);
  return { status: response.status, ok: response.ok, data };
}

/**
 * POSTs an image (from ``fileImage`` or ``drawingImage``) to ``url``, giving up after TIMEOUT_MS.
 * ``answer`` resolves like ``send`` and rejects when the server cannot be reached, the time is up
 * or ``abort()`` was called; ``timedOut()`` tells the second case apart.
 */
export function postImage(url, image) {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, TIMEOUT_MS);
  const answer = send(url, { method: "POST", headers: image.headers, body: image.body, signal: controller.signal });
  return {
    answer: answer.finally(() => clearTimeout(timer)),
    abort: () => controller.abort(),
    timedOut: () => timedOut,
  };
}

/**
 * The sentence a failed /predict or /api/read answer for ``image`` (from ``fileImage`` or
 * ``drawingImage``) is shown as; ``number``: it was /api/read's.
 */
export function predictErrorText(status, data, image, number = false) {
  const error = data && data.error;
  if (error && error.code === "no_digit" && !image.fromFile && image.inked && !number) {
    // The pad draws dark, sharp strokes: the server finds no digit in them only when they are a tap or a short dash.
    return JUST_A_DOT;
  }
  let text = error && typeof error.message === "string" ? error.message.trim() : "";
  if (!text) {
    text = {
      400: "The image could not be read.",
      413: "The image is too large.",
      415: "That kind of file is not accepted; use PNG, JPEG, GIF, BMP or WebP.",
      422: "No digit found.",
      // The app's own 429 says how long to wait ("too many readings: try again in 40 s"); a proxy's may not.
      429: "Too many readings: wait a minute and try again.",
    }[status] || `The server answered with an error (${status}).`;
  }
  text = sentence(text);
  if (error && error.code === "no_digit" && !image.fromFile) {
    text += number ? " Write a number on the pad, its digits side by side." : " Draw a digit on the pad first.";
  }
  return text;
}

/** POSTs the person's digit for the answer that carried ``sample``; resolves like ``send``. */
export function postFeedback(url, sample, label) {
  return send(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...JSON_ONLY },
    body: JSON.stringify({ sample, label }),
  });
}

/** What a /api/feedback answer other than 201 means: the sentence to show, and whether to offer a retry. */
export function feedbackProblem(status, data) {
  const error = data && data.error;
  const detail = error && typeof error.message === "string" ? error.message.trim() : "";
  if (status === 503 || (error && error.code === "feedback_unavailable")) {
    // The server's message may say "feedback cannot be stored right now: why" itself.
    const why = detail.replace(/^feedback (cannot|can't|can not) be stored right now:\s*/i, "");
    return { text: sentence(`Feedback can't be stored right now: ${why || "please try again later"}`), retry: true };
  }
  // A 4xx other than 429 (a bad or expired token, say) will not go better on a second try.
  return {
    text: sentence(detail || `The server answered with an error (${status})`),
    retry: status >= 500 || status === 429,
  };
}
