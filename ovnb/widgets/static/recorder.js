// ovnb's recorder: getUserMedia + MediaRecorder in the page. The encoded chunks stay here while
// recording; when it stops, the whole recording goes to the kernel once, as one custom message
// with a binary buffer ({kind: "recorded", mime, seconds}). Why the page cannot record is one
// line under the button, naming what to do instead.

const TICK_MS = 200;  // how often the elapsed seconds are redrawn
const CHUNK_MS = 1000;  // MediaRecorder hands over its data at least this often
const TYPES = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];
// plenty for speech, and 5 minutes stay about 2.4 MB: one websocket message well under the
// 10 MiB Tornado (Jupyter's server) accepts by default
const BITS_PER_SECOND = 64000;

function refusal(error) {
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError")
    return "the browser gave no microphone: allow it in the address bar, or upload a file";
  if (name === "NotFoundError" || name === "OverconstrainedError")
    return "no microphone found: plug one in (then press Record again), or upload a file";
  if (name === "NotReadableError" || name === "AbortError")
    return "the microphone is busy in another program: close it there, or upload a file";
  return `the browser could not record (${name || error}): upload a file instead`;
}

function unsupported() {
  if (!window.isSecureContext)
    return "browsers record only on https or localhost pages: open Jupyter there, or upload a file";
  return "this browser cannot record audio (no MediaRecorder): use another browser, or upload a file";
}

function chosenType() {
  if (typeof MediaRecorder.isTypeSupported !== "function") return "";
  return TYPES.find((type) => MediaRecorder.isTypeSupported(type)) || "";
}

function render({ model, el }) {
  el.classList.add("ovnb-recorder");
  const button = document.createElement("button");
  button.className = "ovnb-record-button jupyter-button";
  const clock = document.createElement("span");
  clock.className = "ovnb-record-clock";
  const note = document.createElement("span");
  note.className = "ovnb-record-note";
  el.append(button, clock, note);
  let recorder = null, stream = null, chunks = [], started = 0, timer = null, capNote = "";

  function elapsed() { return (performance.now() - started) / 1000; }

  function show() {
    const on = recorder !== null;
    button.textContent = on ? "■ Stop recording" : "● Record";
    button.classList.toggle("ovnb-recording", on);
    button.disabled = !on && model.get("disabled");
    clock.textContent = on ? `${elapsed().toFixed(1)} s` : "";
    note.textContent = model.get("note");
  }

  function say(text) { model.set("note", text); model.save_changes(); show(); }

  function tick() {
    if (recorder && elapsed() >= model.get("max_seconds")) {
      capNote = `stopped at the ${model.get("max_seconds").toFixed(0)} s limit (the model hears no more at once)`;
      stop();
    }
    show();
  }

  async function start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia ||
        typeof MediaRecorder === "undefined") return say(unsupported());
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      return say(refusal(error));
    }
    const type = chosenType();
    try {
      recorder = new MediaRecorder(stream, { audioBitsPerSecond: BITS_PER_SECOND,
                                            ...(type ? { mimeType: type } : {}) });
    } catch (error) {
      release();
      return say(refusal(error));
    }
    chunks = [];
    capNote = "";
    recorder.ondataavailable = (event) => { if (event.data && event.data.size) chunks.push(event.data); };
    recorder.onstop = finish;
    recorder.start(CHUNK_MS);
    started = performance.now();
    timer = setInterval(tick, TICK_MS);
    model.set("recording", true);
    say("recording: press Stop when you are done");
  }

  function stop() { if (recorder && recorder.state !== "inactive") recorder.stop(); }

  function release() {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
  }

  async function finish() {
    const seconds = elapsed(), mime = recorder.mimeType || chunks[0]?.type || "audio/webm";
    clearInterval(timer);
    release();
    recorder = null;
    model.set("recording", false);
    const blob = new Blob(chunks, { type: mime });
    chunks = [];
    const buffer = await blob.arrayBuffer();
    // the kernel confirms in the note when the recording arrived ("the kernel got ...")
    say(`${capNote || `recorded ${seconds.toFixed(1)} s`}: sending it to the kernel…`);
    model.send({ kind: "recorded", mime, seconds }, undefined, [buffer]);
  }

  button.addEventListener("click", () => (recorder ? stop() : start()));
  model.on("change:note", show);
  model.on("change:disabled", show);
  show();
  return () => { stop(); clearInterval(timer); release(); };
}

export default { render };
