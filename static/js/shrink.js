// What an uploaded file is sent as: a phone photo (12 megapixels, 3-6 MB) is scaled down in the
// browser first, as the network reads a 28x28 image and a number's digits need far fewer pixels
// than that: a smaller upload is faster on a phone's connection and cheaper to decode on the
// server. Small files go as they are.

const MAX_SIDE = 1024; // px on the longer side of what is sent
const MAX_BYTES = 1.5 * 1024 * 1024; // a file this large is re-encoded even when it has few pixels
const JPEG_QUALITY = 0.9;
const MAY_BE_TRANSPARENT = /^image\/(png|webp|gif|bmp|x-icon|vnd\.microsoft\.icon)$/;

function canvasBlob(canvas, type) {
  return new Promise((resolve, reject) => {
    const done = (blob) => (blob ? resolve(blob) : reject(new Error("the image could not be encoded")));
    canvas.toBlob(done, type, JPEG_QUALITY);
  });
}

/** Whether any pixel drawn on ``context`` is not fully opaque. */
function hasTransparency(context, width, height) {
  const data = context.getImageData(0, 0, width, height).data;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 255) return true;
  return false;
}

/**
 * What to send for ``file``: ``{blob, name, size}``, ``size`` the ``{width, height}`` in px of the
 * image sent (upright, as its EXIF orientation says), the pixels an answer's boxes are given in;
 * null when this browser cannot decode the file (it is then sent as it is, and the server says
 * what is wrong with it).
 */
export async function shrinkImage(file) {
  const name = file.name || "image";
  let bitmap;
  try {
    // "from-image": the pixels upright as the photo's EXIF orientation says, as the server reads them.
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (error) {
    return { blob: file, name, size: null };
  }
  const { width, height } = bitmap;
  if (Math.max(width, height) <= MAX_SIDE && file.size <= MAX_BYTES) {
    bitmap.close();
    return { blob: file, name, size: { width, height } };
  }
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  const size = { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
  const canvas = document.createElement("canvas");
  canvas.width = size.width;
  canvas.height = size.height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = "high";
  context.drawImage(bitmap, 0, 0, size.width, size.height);
  bitmap.close();
  // JPEG has no alpha: a transparent PNG (a drawing's ink on nothing) keeps it as a PNG.
  const png = MAY_BE_TRANSPARENT.test(file.type) && hasTransparency(context, size.width, size.height);
  const blob = await canvasBlob(canvas, png ? "image/png" : "image/jpeg");
  const stem = name.replace(/\.[^./]*$/, "") || "image";
  return { blob, name: `${stem}.${png ? "png" : "jpg"}`, size };
}
