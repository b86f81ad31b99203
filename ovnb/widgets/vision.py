"""``ovnb.VisionChat``: a view of a VisionSession: the conversation, an image picker, settings."""
from __future__ import annotations

import base64
import html
import os
from typing import Any

import ipywidgets as widgets
import traitlets

from ovnb.images import Picture, Source, samples
from ovnb.sessions.vision import VisionSession
from ovnb.widgets.chat import ConversationWidget, Message
from ovnb.widgets.lora import mixer_for
from ovnb.widgets.render import grey


class VisionChat(ConversationWidget):
    """Chat about images: ``VisionChat("tiny-vlm").send("What is this?", image="cat.jpg") -> str``.

    ``model`` is a catalog id or a prepared folder. Images come from an upload, a file path, the
    bundled samples, or ``send(text, image=...)`` with a path, file bytes, a PIL image or an array.
    ``adapters`` LoRA files for the language model (a list, a dict file -> strength, or a
    ``LoraMixer``). ``system_prompt`` applies from the next conversation on (after Clear);
    ``properties`` OpenVINO properties; ``**settings`` generation settings by openvino_genai's names.
    """

    picture = traitlets.Any(None, allow_none=True, help="the image the next question carries")
    placeholder = "Ask about the image, then press Send"

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU", adapters: Any = None,
                 system_prompt: str = "", properties: dict[str, Any] | None = None,
                 **settings: Any) -> None:
        mixer = mixer_for(adapters)
        session = VisionSession(model, device, mixer.strengths if mixer else None, system_prompt,
                                properties, **settings)
        super().__init__(session, mixer)
        self._thumbs: dict[str, str] = {}  # image name -> data URI of its thumbnail, for turns
        self._shown: Picture | None = None  # the image in the preview (sent or not)
        self._undo_btn.layout.display = "none"  # the model keeps each turn's images: Clear only
        self._build_picker()
        self._layout(self._image_row)
        self.observe(lambda change: self._on_picture(change["new"]), "picture")

    def _build_picker(self) -> None:
        """Upload, path box and samples, beside a small preview of the chosen image."""
        self._upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload")
        self._path = widgets.Text(placeholder="or type an image path and press Enter",
                                  continuous_update=False)
        self._samples = widgets.Dropdown(options=[("sample image…", None),
                                                  *((n, p) for n, p in samples().items())],
                                         value=None, layout=widgets.Layout(width="160px"))
        self._drop_btn = widgets.Button(icon="times", tooltip="remove the image",
                                        layout=widgets.Layout(width="36px"))
        self._preview = widgets.Image(format="png", layout=widgets.Layout(display="none"))
        self._image_label = widgets.HTML(grey("no image: upload one, type a path or pick a sample"))
        self._upload.observe(lambda change: self._on_upload(change["new"]), "value")
        self._path.observe(lambda change: self._on_path(change["new"]), "value")
        self._samples.observe(lambda change: self._on_sample(change["new"]), "value")
        self._drop_btn.on_click(lambda _: self.remove_image())
        pickers = widgets.HBox([self._upload, self._samples, self._drop_btn])
        self._image_row = widgets.HBox(
            [self._preview, widgets.VBox([pickers, self._path, self._image_label])])

    # choosing an image ---------------------------------------------------------------------------
    def choose(self, source: Source, name: str | None = None) -> Picture | None:
        """Make ``source`` the image of the next question; None (error shown) if unreadable."""
        return self.session.choose(source, name)

    def remove_image(self) -> None:
        """Ask the next question without an image (images already sent stay in the history)."""
        self._shown = None
        self._samples.value = None
        self.session.remove_image()
        self._show_picture()

    def _on_upload(self, files: Any) -> None:
        if files:
            upload = files[-1]
            if self.choose(bytes(upload["content"]), upload.get("name")) is not None:
                self._samples.value = None

    def _on_path(self, text: str) -> None:
        if text.strip() and self.choose(text.strip()) is not None:
            self._samples.value = None

    def _on_sample(self, path: Any) -> None:
        if path is not None:
            self.choose(path)

    def _on_picture(self, picture: Picture | None) -> None:
        if picture is not None:  # None means sent (the preview keeps it) or removed (see below)
            self._shown = picture
            self._thumbs[picture.name] = _data_uri(picture.thumbnail_png(96))
        self._show_picture()

    def _show_picture(self) -> None:
        """A thumbnail of the shown image and a line saying whether the next question carries it."""
        picture = self._shown
        self._preview.layout.display = "none" if picture is None else "block"
        self._preview.value = b"" if picture is None else picture.thumbnail_png()
        if picture is None:
            self._image_label.value = grey("no image: upload one, type a path or pick a sample")
            return
        size = "×".join(map(str, picture.size))
        if picture.downscaled:
            size += f" (downscaled from {'×'.join(map(str, picture.original_size))})"
        when = ("sent with your next question" if picture is self.picture
                else "in the conversation: later questions are about it too")
        self._image_label.value = grey(f"🖼 {picture.name} · {size} · {when}")

    # the views -----------------------------------------------------------------------------------
    def _show_turns(self) -> None:
        super()._show_turns()
        if hasattr(self, "_system"):  # the system prompt opens a conversation: fixed until Clear
            self._system.disabled = bool(self.messages)
            self._system.placeholder = "applies from the next conversation (after Clear)"

    def _turn(self, message: Message) -> dict[str, str]:
        turn = super()._turn(message)
        name = message.get("image")
        if name:
            thumb = self._thumbs.get(name)
            image = f"<img src='{thumb}' alt='{html.escape(name, quote=True)}'>" if thumb else ""
            turn["html"] = f"{image}<div>🖼 {html.escape(name)}</div>{turn['html']}"
        return turn

    def _metric_parts(self, m: dict[str, Any]) -> list[str]:
        image = [f"image encoded in {m['image_ms']:.0f} ms"] if m.get("image_ms") is not None else []
        return [*image, *super()._metric_parts(m)]

    def send(self, text: str, image: Source | None = None,  # type: ignore[override]
             buffers: Any = None, **request: Any) -> str:
        """Ask ``text`` (about ``image``, else the chosen image) as the Send button does."""
        if isinstance(text, dict):  # ipywidgets' own custom message (focus/blur use it)
            return super().send(text, buffers)
        return self.session.send(text, image=image, **request)

    def clear(self) -> None:
        """Start a new conversation; the image in the preview goes with its first question."""
        self.session.clear()
        if self._shown is not None and self.picture is None:
            self.session.publish_now(picture=self._shown)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
