// A player whose words light up as they are spoken (ovnb.widgets.speech.WordPlayer); the Speaker
// uses it with sentences in place of words (ovnb.widgets.tts).
// The audio is the `wav` bytes trait, played from a blob URL; `words` are [start, end, text].
// While playing, the item under the playhead is marked on every animation frame (timeupdate
// alone fires only about four times a second); clicking an item plays from its start.
// When `continues` is true, a new `wav` is the old one grown (speech so far): the playhead stays,
// and playing goes on if it was playing or had played to the old end. Items that start past the
// audio's end (spoken, not yet sent) are marked `ovnb-later` until audio reaches them.

function render({ model, el }) {
  const audio = document.createElement("audio");
  audio.controls = true;
  audio.preload = "auto";
  const list = document.createElement("div");
  list.className = "ovnb-words";
  let url = null;
  let spans = [];
  let current = null;
  let frame = 0;

  function resume(at, playing) {
    audio.addEventListener("loadedmetadata", () => {
      audio.currentTime = Math.min(at, audio.duration || at);
      if (playing) audio.play().catch(() => {});
    }, { once: true });
  }

  function loadAudio() {
    const data = model.get("wav");
    const at = audio.currentTime;
    const playing = model.get("continues") && (!audio.paused || audio.ended);
    if (url) URL.revokeObjectURL(url);
    url = null;
    if (data && data.byteLength) {
      url = URL.createObjectURL(new Blob([data], { type: "audio/wav" }));
      if (model.get("continues") && at > 0) resume(at, playing);
      audio.src = url;
    } else {
      audio.removeAttribute("src");
      audio.load();
    }
  }

  function showWords() {
    list.replaceChildren();
    current = null;
    spans = model.get("words").map(([start, end, word]) => {
      const span = document.createElement("span");
      span.textContent = word;
      span.title = `${start.toFixed(2)} s – ${end.toFixed(2)} s`;
      span.addEventListener("click", () => {
        audio.currentTime = start;
        audio.play().catch(() => {});
      });
      list.append(span);
      return [start, end, span];
    });
    markLater();
  }

  function markLater() {
    const known = Number.isFinite(audio.duration) ? audio.duration : 0;
    for (const [start, , span] of spans) span.classList.toggle("ovnb-later", start >= known);
  }

  function keepInView(span) {  // scrolls the list only, never the page
    const box = span.getBoundingClientRect(), frame = list.getBoundingClientRect();
    if (box.top < frame.top) list.scrollTop -= frame.top - box.top;
    else if (box.bottom > frame.bottom) list.scrollTop += box.bottom - frame.bottom;
  }

  function mark() {
    const t = audio.currentTime;
    const hit = audio.src ? spans.find(([start, end]) => start <= t && t < end) : null;
    const span = hit ? hit[2] : null;
    if (span !== current) {
      if (current) current.classList.remove("ovnb-now");
      if (span) { span.classList.add("ovnb-now"); keepInView(span); }
      current = span;
      model.set("position", hit ? spans.indexOf(hit) : -1);
      model.save_changes();
    }
  }

  function follow() {
    mark();
    if (!audio.paused) frame = requestAnimationFrame(follow);
  }

  audio.addEventListener("play", () => { frame = requestAnimationFrame(follow); });
  audio.addEventListener("timeupdate", mark);
  audio.addEventListener("seeked", mark);
  audio.addEventListener("loadedmetadata", markLater);
  audio.addEventListener("emptied", markLater);
  model.on("change:wav", loadAudio);
  model.on("change:words", showWords);
  loadAudio();
  showWords();
  el.classList.add("ovnb-word-player");
  el.append(audio, list);
  return () => {
    cancelAnimationFrame(frame);
    if (url) URL.revokeObjectURL(url);
  };
}

export default { render };
