// Small DOM helpers shared by the modules of the page.

/** Buttons stay focusable and announced while disabled: aria-disabled, not the disabled attribute. */
export function setDisabled(button, disabled) {
  button.setAttribute("aria-disabled", String(disabled));
}

/** ``text`` with a capital first letter and a full stop. */
export function sentence(text) {
  let s = text.trim();
  s = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}
