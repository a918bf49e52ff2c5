// Another way in: an image file uploaded, pasted or dropped on the pad, read instead of the strokes.
// What is sent is the file as shrink.js prepared it (a large photo scaled down), kept here with it.

function imageFrom(dataTransfer) {
  if (!dataTransfer) return null;
  const files = [...(dataTransfer.files || [])];
  const image = files.find((f) => f.type.startsWith("image/"));
  if (image || files.length) return image || files[0];
  for (const item of dataTransfer.items || []) {
    if (item.kind === "file") return item.getAsFile();
  }
  return null;
}

/**
 * Listens for files on ``upload`` (an <input type="file">), on paste and on drops onto ``pad``;
 * ``onFile(file)`` runs for each one. The pad's #pad-file note shows which file the answer is for.
 */
export function createFiles({ pad, upload, onFile }) {
  const note = pad.querySelector("#pad-file");
  const preview = pad.querySelector("#file-preview");
  const name = pad.querySelector("#file-name");
  let file = null; // the file the result belongs to, if any
  let prepared = null; // what is sent for it, once shrink.js has made it: {blob, name, size}
  let previewUrl = null;
  let dragDepth = 0;

  const offer = (chosen) => {
    if (chosen) onFile(chosen);
  };

  upload.addEventListener("change", () => {
    const chosen = upload.files && upload.files[0];
    upload.value = ""; // choosing the same file again still fires "change"
    offer(chosen);
  });

  document.addEventListener("paste", (event) => {
    const pasted = imageFrom(event.clipboardData);
    if (pasted) {
      event.preventDefault();
      offer(pasted);
    }
  });

  // Drop onto the pad reads the file; a drop elsewhere must not navigate away from the page.
  pad.addEventListener("dragenter", (e) => {
    e.preventDefault();
    dragDepth += 1;
    pad.classList.add("is-dragover");
  });
  pad.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) pad.classList.remove("is-dragover");
  });
  pad.addEventListener("dragover", (e) => {
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
  });
  pad.addEventListener("drop", (e) => {
    e.preventDefault();
    dragDepth = 0;
    pad.classList.remove("is-dragover");
    offer(imageFrom(e.dataTransfer));
  });
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  function forget() {
    file = null;
    prepared = null;
    note.hidden = true;
    preview.removeAttribute("src");
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
  }

  return {
    /** The file being read, or null when the pad's strokes are. */
    current: () => file,
    /** What is sent for the current file (shrink.js ``shrinkImage``), or null until it is ready. */
    prepared: () => prepared,
    /** The <img> that shows the file: a number's boxes are drawn over it. */
    previewElement: () => preview,
    forget,

    /** What to send for the current file. */
    setPrepared(newPrepared) {
      prepared = newPrepared;
    },

    /** Makes ``newFile`` the input, shown by name (and as a preview when it is an image). */
    use(newFile) {
      forget();
      file = newFile;
      if (newFile.type.startsWith("image/")) {
        previewUrl = URL.createObjectURL(newFile);
        preview.src = previewUrl;
        preview.hidden = false;
      } else {
        preview.hidden = true;
      }
      name.textContent = newFile.name || "pasted image";
      note.hidden = false;
    },
  };
}
