// ovnb's mask painter: an image with a canvas over it. Strokes are drawn here, in the page, on two
// canvases at the image's own pixel size: the mask (white strokes on black, what the kernel gets)
// and the overlay you see (the strokes in a tint, shown half transparent). At the end of each
// stroke the mask goes to the kernel as one PNG; a mask set from Python replaces what is shown.

const TINT = "rgb(255, 40, 40)";  // ovnb.sessions.editing.TINT; the opacity is in maskpaint.css

function bytesOf(value) {
  if (!value) return new Uint8Array();
  if (value instanceof DataView) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return new Uint8Array(value.buffer || value);
}

function same(a, b) {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function render({ model, el }) {
  el.classList.add("ovnb-maskpaint");
  const stage = document.createElement("div");
  stage.className = "ovnb-mask-stage";
  const picture = document.createElement("img");
  picture.className = "ovnb-mask-image";
  picture.draggable = false;
  picture.alt = "the image to edit";
  const overlay = document.createElement("canvas");
  overlay.className = "ovnb-mask-overlay";
  stage.append(picture, overlay);
  const empty = document.createElement("div");
  empty.className = "ovnb-mask-empty";
  empty.textContent = "Choose an image to paint its mask on.";
  el.append(stage, empty);
  const mask = document.createElement("canvas");  // never shown: white = repaint, black = keep
  const shown = overlay.getContext("2d");
  const painted = mask.getContext("2d", { willReadFrequently: true });
  let url = null, last = null, drawing = false, waiting = false, sentBytes = null;

  function layout() {
    const w = picture.naturalWidth, h = picture.naturalHeight;
    const css = model.get("view_width") || w;
    for (const canvas of [overlay, mask]) {
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    }
    picture.style.width = overlay.style.width = `${css}px`;
    overlay.style.height = `${(css * h) / w}px`;
  }

  function clear() {
    painted.fillStyle = "#000";
    painted.fillRect(0, 0, mask.width, mask.height);
    shown.clearRect(0, 0, overlay.width, overlay.height);
  }

  function tintFromMask() {  // the overlay redrawn from the mask: opaque tint where it is white
    const source = painted.getImageData(0, 0, mask.width, mask.height).data;
    const out = shown.createImageData(overlay.width, overlay.height);
    for (let i = 0; i < source.length; i += 4) {
      if (source[i] >= 128) { out.data[i] = 255; out.data[i + 1] = 40; out.data[i + 2] = 40; out.data[i + 3] = 255; }
    }
    shown.putImageData(out, 0, 0);
  }

  async function loadMask() {  // the mask Python holds: nothing, or a PNG to show
    if (drawing) { waiting = true; return; }
    const data = bytesOf(model.get("mask"));
    if (sentBytes && same(sentBytes, data)) return;  // our own stroke coming back
    sentBytes = null;
    clear();
    if (!data.length || !mask.width) return;
    const bitmap = await createImageBitmap(new Blob([data], { type: "image/png" }));
    painted.drawImage(bitmap, 0, 0, mask.width, mask.height);
    tintFromMask();
  }

  function showImage() {
    const data = bytesOf(model.get("image"));
    if (url) URL.revokeObjectURL(url);
    url = null;
    stage.style.display = data.length ? "" : "none";
    empty.style.display = data.length ? "none" : "";
    if (!data.length) return;
    url = URL.createObjectURL(new Blob([data], { type: "image/png" }));
    picture.onload = () => { layout(); sentBytes = null; loadMask(); };
    picture.src = url;
  }

  function at(event) {  // the pointer in image pixels
    const box = overlay.getBoundingClientRect();
    return { x: ((event.clientX - box.left) * overlay.width) / box.width,
             y: ((event.clientY - box.top) * overlay.height) / box.height };
  }

  function line(from, to) {
    const erase = model.get("erase");
    for (const [context, color] of [[painted, erase ? "#000" : "#fff"], [shown, TINT]]) {
      context.save();
      context.lineCap = context.lineJoin = "round";
      context.lineWidth = model.get("brush");
      context.strokeStyle = color;
      if (context === shown && erase) context.globalCompositeOperation = "destination-out";
      context.beginPath();
      context.moveTo(from.x, from.y);
      context.lineTo(to.x + (from === to ? 0.01 : 0), to.y);  // a click leaves a dot
      context.stroke();
      context.restore();
    }
  }

  function send() {
    mask.toBlob(async (blob) => {
      const buffer = await blob.arrayBuffer();
      sentBytes = new Uint8Array(buffer);
      model.set("mask", new DataView(buffer));
      model.set("strokes", model.get("strokes") + 1);
      model.save_changes();
    }, "image/png");
  }

  overlay.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || !overlay.width) return;
    event.preventDefault();
    overlay.setPointerCapture(event.pointerId);
    drawing = true;
    last = at(event);
    line(last, last);
  });
  overlay.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const point = at(event);
    line(last, point);
    last = point;
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    send();
    if (waiting) { waiting = false; loadMask(); }
  };
  overlay.addEventListener("pointerup", end);
  overlay.addEventListener("pointercancel", end);

  model.on("change:image", showImage);
  model.on("change:mask", loadMask);
  model.on("change:view_width", () => { if (picture.naturalWidth) layout(); });
  showImage();
  return () => { if (url) URL.revokeObjectURL(url); };
}

export default { render };
