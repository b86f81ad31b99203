// ovnb's upload button: the browser's file chooser, labelled with its description alone
// (ipywidgets' FileUpload adds a "(0)" count that learners read as a fault). The chosen files go
// to the kernel once, as one custom message with a binary buffer per file ({kind: "files",
// files: [{name, type, size, last_modified}]}), not as widget state copied to every view.

function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "jupyter-widgets jupyter-button widget-upload ovnb-upload";
  const input = document.createElement("input");
  input.type = "file";
  input.style.display = "none";
  el.append(button, input);

  function show() {
    button.textContent = "";
    const icon = model.get("icon");
    if (icon) {
      const glyph = document.createElement("i");
      glyph.className = `fa fa-${icon}`;
      button.append(glyph, " ");
    }
    button.append(model.get("description"));
    button.disabled = model.get("disabled");
    button.title = model.get("tooltip");
    input.accept = model.get("accept");
    input.multiple = model.get("multiple");
  }

  button.addEventListener("click", () => { input.value = ""; input.click(); });
  input.addEventListener("change", async () => {
    const files = Array.from(input.files || []);
    if (!files.length) return;
    const buffers = await Promise.all(files.map((file) => file.arrayBuffer()));
    const described = files.map((file) => ({ name: file.name, type: file.type, size: file.size,
                                             last_modified: file.lastModified }));
    model.send({ kind: "files", files: described }, undefined, buffers);
  });
  for (const name of ["description", "icon", "disabled", "tooltip", "accept", "multiple"])
    model.on(`change:${name}`, show);
  show();
}

export default { render };
