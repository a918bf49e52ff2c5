// The boxes of a whole number's digits, drawn over what was read (the pad's drawing or the preview
// of an uploaded image), each labelled with the digit read in it. The boxes are decoration: the
// answer's text lists the digits (answer.js), so the layer is hidden from assistive technology.

const LABEL_ROOM = 22; // CSS px above a box for its label; a box nearer the top has it inside

/**
 * The layer ``layer`` (#boxes), absolutely positioned over the whole of ``frame`` (#pad). A box is
 * given in the pixels of the image sent (``[x0, y0, x1, y1]``, x1 and y1 exclusive) and placed over
 * ``target()``, the element that shows that image: the canvas, or the uploaded image's preview
 * (scaled into its box as object-fit: contain does).
 */
export function createBoxes(layer, frame) {
  let shown = null; // {digits, size, target}: what is drawn, to place again when the layout changes

  /** The rectangle, in CSS px of the layer, where ``target`` shows an image of ``size``. */
  function area(target, size) {
    const outer = frame.getBoundingClientRect();
    const rect = target.getBoundingClientRect();
    const left = rect.left + target.clientLeft - outer.left - frame.clientLeft;
    const top = rect.top + target.clientTop - outer.top - frame.clientTop;
    const width = target.clientWidth;
    const height = target.clientHeight;
    const scale = Math.min(width / size.width, height / size.height);
    return {
      left: left + (width - size.width * scale) / 2,
      top: top + (height - size.height * scale) / 2,
      scale,
    };
  }

  function place() {
    layer.replaceChildren();
    if (!shown) return;
    const { digits, size, target } = shown;
    const { left, top, scale } = area(target, size);
    if (!(scale > 0)) return; // not laid out (hidden): placed again when it is
    for (const digit of digits) {
      const [x0, y0, x1, y1] = digit.box.map(Number);
      const box = document.createElement("div");
      box.className = "digit-box";
      const boxTop = top + y0 * scale;
      box.style.left = `${left + x0 * scale}px`;
      box.style.top = `${boxTop}px`;
      box.style.width = `${Math.max(1, (x1 - x0) * scale)}px`;
      box.style.height = `${Math.max(1, (y1 - y0) * scale)}px`;
      box.dataset.label = String(digit.label);
      const label = document.createElement("span");
      label.className = "digit-box-label";
      label.classList.toggle("is-inside", boxTop < LABEL_ROOM);
      label.textContent = String(digit.label);
      box.append(label);
      layer.append(box);
    }
  }

  new ResizeObserver(place).observe(frame);

  return {
    /**
     * Draws the ``digits`` of an /api/read answer over ``target``, showing an image of ``size``
     * ({width, height} px, the image sent); nothing when the size is unknown.
     */
    show(digits, size, target) {
      shown = size && size.width > 0 && size.height > 0 && target ? { digits, size, target } : null;
      layer.classList.remove("is-stale");
      place();
    },

    /** The boxes belong to an older reading (a new one is on its way): shown faded. */
    setStale(stale) {
      layer.classList.toggle("is-stale", stale);
    },

    clear() {
      shown = null;
      layer.classList.remove("is-stale");
      place();
    },

    /** Places the boxes again: what they are drawn over has moved or changed size. */
    refit: place,
  };
}
