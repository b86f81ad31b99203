// ovnb's prompt box: a text area where Enter sends and Shift+Enter starts a new line, as in chat
// apps. Enter sends the text with the message ({kind: "submit", value}), so the kernel answers
// exactly what is in the box, whatever value updates are still on their way. The value is synced
// when the box loses focus or is sent (ipywidgets' Textarea with continuous_update=False).

function render({ model, el }) {
  el.classList.add("widget-textarea", "ovnb-prompt");
  const box = document.createElement("textarea");
  // JupyterLab's shortcuts stop here: Shift+Enter in the box is a new line, not "run the cell"
  box.setAttribute("data-lm-suppress-shortcuts", "true");
  // the box fills the space its layout gives (ipywidgets' textarea inherits the width, which
  // for a layout of width auto left it at its 20 columns)
  Object.assign(box.style, { width: "100%", height: "100%", boxSizing: "border-box" });
  el.append(box);

  function show() {
    if (box.value !== model.get("value")) box.value = model.get("value");
    box.placeholder = model.get("placeholder");
    box.disabled = model.get("disabled");
  }

  function sync() {
    if (model.get("value") === box.value) return;
    model.set("value", box.value);
    model.save_changes();
  }

  box.addEventListener("change", sync);
  box.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.isComposing) return;
    event.preventDefault();
    if (event.shiftKey) {  // a new line at the caret, here: the page around may swallow the key
      box.setRangeText("\n", box.selectionStart, box.selectionEnd, "end");
      return;
    }
    sync();
    model.send({ kind: "submit", value: box.value });
  });
  for (const name of ["value", "placeholder", "disabled"]) model.on(`change:${name}`, show);
  show();
}

export default { render };
