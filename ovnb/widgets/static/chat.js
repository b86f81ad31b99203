// ovnb's conversation view: turns rendered by Python (markdown -> safe HTML), the answer being
// generated appended as plain text from small "live" messages (deltas, never the whole text).

function turnElement(turn) {
  const box = document.createElement("div");
  box.className = `ovnb-turn ovnb-${turn.role}`;
  const who = document.createElement("div");
  who.className = "ovnb-who";
  who.textContent = turn.who || turn.role;
  const body = document.createElement("div");
  body.className = "ovnb-body";
  body.innerHTML = turn.html;  // made by ovnb.widgets.render.markdown_html: raw HTML escaped
  box.append(who, body);
  if (turn.sources) {
    const sources = document.createElement("div");
    sources.className = "ovnb-sources";
    sources.innerHTML = turn.sources;  // made by ovnb.widgets.chat.sources_html: text escaped
    box.append(sources);
  }
  if (turn.note) {
    const note = document.createElement("div");
    note.className = "ovnb-note";
    note.textContent = turn.note;
    box.append(note);
  }
  return box;
}

function render({ model, el }) {
  el.classList.add("ovnb-chat");
  const panel = document.createElement("div");
  panel.className = "ovnb-chat-panel";
  panel.style.maxHeight = model.get("height");
  el.append(panel);
  let live = null;  // the answer being generated: {box, body}

  const following = () => panel.scrollHeight - panel.scrollTop - panel.clientHeight < 48;
  const follow = (was) => { if (was) panel.scrollTop = panel.scrollHeight; };

  function draw() {
    const was = following();
    const turns = model.get("turns");
    const children = turns.map(turnElement);
    if (!turns.length && !live) {
      const empty = document.createElement("div");
      empty.className = "ovnb-empty";
      empty.textContent = model.get("placeholder");
      children.push(empty);
    }
    if (live) children.push(live.box);
    panel.replaceChildren(...children);
    follow(was);
  }

  function startLive() {
    const box = turnElement({ role: "assistant", who: model.get("model_label"), html: "" });
    box.classList.add("ovnb-live");
    const body = box.querySelector(".ovnb-body");
    body.classList.add("ovnb-stream");
    live = { box, body };
    panel.querySelector(".ovnb-empty")?.remove();
    panel.append(box);
  }

  model.on("change:turns", draw);
  model.on("change:height", () => { panel.style.maxHeight = model.get("height"); });
  model.on("msg:custom", (msg) => {
    const was = following();
    if (msg.kind === "live") {
      if (!live) startLive();
      if (msg.reset) live.body.textContent = msg.text;
      else live.body.append(msg.text);
    } else if (msg.kind === "end" && live) {
      live.box.remove();
      live = null;
    }
    follow(was);
  });
  draw();
  model.send({ kind: "hello" });  // a view opened mid-answer asks for the text so far
}

export default { render };
