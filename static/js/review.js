// The review page (templates/review.html) works without this file: it adds "select all on this
// page" and a count of the samples chosen for the bulk approve / reject buttons.

const selectAll = document.querySelector("#select-all");
const label = document.querySelector("#select-all-label");
const selected = document.querySelector("#selected");
const picks = [...document.querySelectorAll("input.pick[form='bulk']")];

function update() {
  const chosen = picks.filter((pick) => pick.checked).length;
  selectAll.checked = chosen === picks.length;
  selectAll.indeterminate = chosen > 0 && chosen < picks.length;
  selected.textContent = chosen === 0 ? "" : `${chosen} of ${picks.length} chosen`;
}

if (selectAll && picks.length > 0) {
  label.hidden = false;
  selectAll.addEventListener("change", () => {
    for (const pick of picks) pick.checked = selectAll.checked;
    update();
  });
  for (const pick of picks) pick.addEventListener("change", update);
  update();
}
