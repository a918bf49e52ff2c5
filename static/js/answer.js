// The prediction card: the digit read, how confident, "not sure" between two digits, the ten
// probability bars, the 28x28 image the network saw, and the status line under them; and the
// line above the pad (#quick) that repeats the digit and the confidence, or the error, for a
// one-column layout where the card is out of sight. In number mode the card shows the number
// read instead, and each of its digits with its confidence.

const IDLE_TEXT = { empty: "Nothing drawn yet", error: "No answer" };

const percent = (p) => `${Math.round(p * 100)}%`;
const ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"];
const ordinal = (i) => ORDINALS[i] || `${i + 1}th`;

/**
 * The card ``result`` (#result) and the line ``quick`` (#quick): their data-state is "empty",
 * "busy", "ok" or "error".
 */
export function createAnswer(result, quick) {
  const digitEl = result.querySelector("#result-digit");
  const confidenceEl = result.querySelector("#confidence");
  const doubtEl = result.querySelector("#doubt");
  const modelEl = result.querySelector("#result-model");
  const seen = result.querySelector("#seen");
  const seenEmpty = result.querySelector("#seen-empty");
  const message = result.querySelector("#message");
  const bars = [...result.querySelectorAll("#bars .bar")];
  const numberDigits = result.querySelector("#number-digits");
  const lowConfidence = Number.parseFloat(result.dataset.lowConfidence) || 0.6;
  const quickDigit = quick.querySelector("#quick-digit");
  const quickConfidence = quick.querySelector("#quick-confidence");
  const quickDoubt = quick.querySelector("#quick-doubt");
  const quickMore = quick.querySelector("#quick-more");

  /** The line above the pad says what the card says: called after every change to the card. */
  function mirror() {
    const { state, previous = "empty" } = result.dataset;
    quick.dataset.state = state;
    quick.dataset.previous = previous;
    quickDigit.textContent = digitEl.textContent;
    quickConfidence.textContent = state === "error" ? message.textContent : confidenceEl.textContent;
    quickDoubt.textContent = doubtEl.textContent;
    quickDoubt.hidden = doubtEl.hidden;
    // The card below has more: the ten bars and the feedback row.
    quickMore.hidden = !(state === "ok" || (state === "busy" && previous === "ok"));
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

  function hideSeen() {
    seen.hidden = true;
    seen.removeAttribute("src");
    seen.alt = "";
    seenEmpty.hidden = false;
  }

  function clearNumber() {
    numberDigits.replaceChildren();
    numberDigits.hidden = true;
  }

  /** One digit of a number: the digit, its confidence under it, and the two said in words. */
  function numberDigit(digit, i, unsure) {
    const li = document.createElement("li");
    li.className = "number-digit";
    li.classList.toggle("is-unsure", unsure);
    li.dataset.label = String(digit.label);
    const label = document.createElement("span");
    label.className = "number-digit-label";
    label.setAttribute("aria-hidden", "true");
    label.textContent = String(digit.label);
    const pct = document.createElement("span");
    pct.className = "number-digit-pct";
    pct.setAttribute("aria-hidden", "true");
    pct.textContent = percent(digit.confidence);
    const text = document.createElement("span");
    text.className = "visually-hidden";
    text.textContent = `${ordinal(i)} digit: ${digit.label}, ${percent(digit.confidence)} confident`;
    li.append(label, pct, text);
    return li;
  }

  return {
    /** Marks the card busy (the answer shown is for an older input), or settles it in ``state``. */
    setBusy(busy, state) {
      result.setAttribute("aria-busy", String(busy));
      if (busy) {
        if (result.dataset.state !== "busy") result.dataset.previous = result.dataset.state;
        result.dataset.state = "busy";
        if (result.dataset.previous !== "ok") confidenceEl.textContent = "Reading…";
      } else if (state) {
        result.dataset.state = state;
        if (state in IDLE_TEXT) confidenceEl.textContent = IDLE_TEXT[state];
      }
      mirror();
    },

    isBusy: () => result.dataset.state === "busy",
    /** The state the card was in before it became busy. */
    previousState: () => result.dataset.previous || "empty",
    /** Nothing answered and nothing said: there is nothing to clear. */
    isBlank: () => result.dataset.state === "empty" && !message.textContent,

    /** Shows a /predict answer (the card's state is left to ``setBusy``); returns the digit read. */
    show(data) {
      const probabilities = data.probabilities.map(Number);
      const order = probabilities.map((p, d) => [p, d]).sort((a, b) => b[0] - a[0]);
      const label = Number.isInteger(data.label) ? data.label : order[0][1];
      const confidence = typeof data.confidence === "number" ? data.confidence : order[0][0];
      const second = order.find(([, d]) => d !== label);
      const unsure = confidence < lowConfidence && second;

      clearNumber();
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
      mirror();
      return label;
    },

    /**
     * Shows an /api/read answer (the card's state is left to ``setBusy``): the number large, each
     * digit with its confidence, and a sentence listing them (the text of the boxes over the pad).
     */
    showNumber(data) {
      const digits = data.digits.map((d) => ({ label: d.label, confidence: Number(d.confidence) || 0 }));
      const text = typeof data.text === "string" ? data.text : digits.map((d) => d.label).join("");
      const unsure = digits.map((d) => d.confidence < lowConfidence);
      const doubtful = digits.map((d, i) => ({ ...d, i })).filter((d, i) => unsure[i]);
      const lowest = Math.min(...digits.map((d) => d.confidence));
      const count = `${digits.length} digit${digits.length === 1 ? "" : "s"}`;

      digitEl.textContent = text;
      // "each at least 100%" reads oddly: each is 100% then, as far as whole percents tell.
      const least = percent(lowest) === "100%" ? "100%" : `at least ${percent(lowest)}`;
      confidenceEl.textContent =
        digits.length === 1 ? `1 digit, ${percent(lowest)} confident` : `${count}, each ${least} confident`;
      doubtEl.textContent =
        doubtful.length === 1
          ? `Not sure of the ${ordinal(doubtful[0].i)} digit (${doubtful[0].label}?)`
          : doubtful.length
            ? `Not sure of ${doubtful.length} digits`
            : "";
      doubtEl.hidden = doubtful.length === 0;
      modelEl.textContent = data.model ? `Model: ${data.model}` : "";
      setBars(null);
      hideSeen();
      numberDigits.replaceChildren(...digits.map((d, i) => numberDigit(d, i, unsure[i])));
      numberDigits.hidden = false;
      message.dataset.kind = "ok";
      const each = digits.map((d) => `${d.label} (${percent(d.confidence)})`).join(", ");
      message.textContent = `Read as ${text}: ${count}, left to right ${each}.`;
      mirror();
      return text;
    },

    /** Shows ``text`` instead of an answer. */
    showError(text) {
      clearNumber();
      digitEl.textContent = "?";
      doubtEl.hidden = true;
      modelEl.textContent = "";
      setBars(null);
      hideSeen();
      message.dataset.kind = "error";
      message.textContent = text;
      mirror();
    },

    /** Back to the card of a page where nothing is drawn yet. */
    showEmpty() {
      clearNumber();
      digitEl.textContent = "?";
      doubtEl.hidden = true;
      doubtEl.textContent = "";
      modelEl.textContent = "";
      setBars(null);
      hideSeen();
      message.dataset.kind = "";
      message.textContent = "";
      mirror();
    },
  };
}
