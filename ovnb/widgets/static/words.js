// A player whose words light up as they are spoken (ovnb.widgets.speech.WordPlayer).
// The audio is the `wav` bytes trait, played from a blob URL; `words` are [start, end, word].
// While playing, the word under the playhead is marked on every animation frame (timeupdate
// alone fires only about four times a second); clicking a word plays from its start.

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

  function loadAudio() {
    const data = model.get("wav");
    if (url) URL.revokeObjectURL(url);
    url = null;
    if (data && data.byteLength) {
      url = URL.createObjectURL(new Blob([data], { type: "audio/wav" }));
      audio.src = url;
    } else {
      audio.removeAttribute("src");
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
        audio.play();
      });
      list.append(span);
      return [start, end, span];
    });
  }

  function mark() {
    const t = audio.currentTime;
    const hit = spans.find(([start, end]) => start <= t && t < end);
    const span = hit ? hit[2] : null;
    if (span !== current) {
      if (current) current.classList.remove("ovnb-now");
      if (span) span.classList.add("ovnb-now");
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
