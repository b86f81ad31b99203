"""``ovnb.VisionChat``: a streaming chat about images with a VLMPipeline.

The conversation lives in one ``openvino_genai.ChatHistory`` per widget, kept across turns: the
pipeline attaches each turn's images to that object, so a later question still sees the picture
of an earlier turn. An image is therefore sent once, with the question that introduced it (a
rebuilt history would silently lose it). A failed turn is taken back out of the history.
"""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ovnb import devices
from ovnb import lora
from ovnb.images import Picture, Source, load_image, samples
from ovnb.runtime import Loaded, Outcome, TextSink, check_context, check_device, construct, explain, load
from ovnb.widgets.base import PipelineWidget, model_folder
from ovnb.widgets.chat import SETTINGS, Message, _setting_controls, markdown_output, transcript
from ovnb.widgets.lora import Adapters, LoraMixer


class VisionChat(PipelineWidget):
    """Chat about images: ``VisionChat("tiny-vlm").send("What is this?", image="cat.jpg") -> str``.

    ``model`` is a catalog id or a prepared folder. Images come from an upload, a file path, the
    bundled samples, or ``send(text, image=...)`` with a path, file bytes, a PIL image or an array.
    ``adapters`` LoRA files for the language model (a list, a dict file -> strength, or a
    ``LoraMixer``): all registered once, at build; each answer uses the sliders as they are then.
    ``system_prompt`` applies from the next conversation on (after Clear); ``properties`` are
    OpenVINO properties for the pipeline (e.g. ``INFERENCE_PRECISION_HINT="f32"``); ``**config``
    generation settings by openvino_genai's names (``max_new_tokens``, ``temperature``...).
    """

    def __init__(self, model: str | os.PathLike[str], device: str = "CPU",
                 adapters: list[Any] | dict[Any, float] | LoraMixer | None = None,
                 system_prompt: str = "", properties: dict[str, Any] | None = None,
                 **config: Any) -> None:
        super().__init__()
        # a name or a DevicePicker; the device's own settings come first, the caller's on top
        self.device, self.properties = devices.resolve(device, "vision-chat", properties)
        self._adapters = Adapters(adapters)
        self.config = {**SETTINGS, **config}
        self.messages: list[Message] = []  # the turns so far (user, assistant, ...)
        self.picture: Picture | None = None  # the chosen image, sent with the next question
        self.metrics: dict[str, float] = {}
        self._shown: Picture | None = None  # the image in the preview (sent or not)
        self._image_turns: dict[int, str] = {}  # index in messages of a user turn -> its image
        self._history: Any = None  # the ChatHistory (its images live in it)
        self._sink: TextSink | None = None
        self._build_view(system_prompt)
        self._load_in_background(lambda: self._load(model), str(model))

    # the pipeline ---------------------------------------------------------------------------
    def _load(self, model: str | os.PathLike[str]) -> Loaded:
        check_device(self.device)  # an absent device is refused before any export
        precision = devices.precision_for(self.device, "vision-chat")
        folder = model_folder(model, "vision-chat", precision)
        self._adapters.check(folder, "vision-chat")
        made: dict[Path, Any] = {}

        def build() -> Any:
            # all adapters now, and no prefix caching (it would reuse state of other adapters)
            kwargs = lora.build_kwargs(self._adapters.files, "vision-chat", made)
            return construct("vision-chat", folder, self.device, self.properties, **kwargs)

        loaded = load("vision-chat", folder, self.device, self.properties, build,
                      self._adapters.key() or None)
        lora.attach(loaded, made)
        return loaded

    def _generation_config(self, loaded: Loaded) -> Any:
        config = loaded.pipe.get_generation_config()
        for name, value in self.config.items():
            setattr(config, name, value)
        return config

    # the view -------------------------------------------------------------------------------
    def _build_view(self, system_prompt: str) -> None:
        self._history_view = widgets.Output()
        self._answer = widgets.Output()
        self._build_image_picker()
        self._prompt = widgets.Textarea(placeholder="Ask about the image, then press Send",
                                        continuous_update=False,
                                        layout=widgets.Layout(width="100%"))
        self._send_btn = widgets.Button(description="Send", button_style="primary",
                                        icon="paper-plane")
        self._stop_btn = widgets.Button(description="Stop", icon="stop", disabled=True)
        self._clear_btn = widgets.Button(description="Clear", icon="trash")
        self._system = widgets.Textarea(value=system_prompt, description="System",
                                        placeholder="applies from the next conversation",
                                        layout=widgets.Layout(width="100%"))
        self._controls = _setting_controls(self.config)
        for name, control in self._controls.items():
            control.observe(lambda change, n=name: self.config.__setitem__(n, change["new"]),
                            "value")
        self._metrics_line = widgets.HTML()
        self._send_btn.on_click(lambda _: self._submit_from_view())
        self._stop_btn.on_click(lambda _: self.stop())
        self._clear_btn.on_click(lambda _: self.clear())
        self.observe(lambda change: self._sync_buttons(change["new"]), "busy")
        settings = widgets.Accordion([widgets.VBox([self._system, *self._controls.values()])],
                                     titles=("Settings",), selected_index=None)
        buttons = widgets.HBox([self._send_btn, self._stop_btn, self._clear_btn])
        mixer = [self._adapters.mixer] if self._adapters else []  # LoRA sliders, read per answer
        self.children = [self._history_view, self._answer, self._image_row, self._prompt, buttons,
                         *mixer, self._metrics_line, self._status, self._error, settings]

    def _build_image_picker(self) -> None:
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
        self._image_label = widgets.HTML("<span style='color:#555'>no image: upload one, type "
                                         "a path or pick a sample</span>")
        self._upload.observe(lambda change: self._on_upload(change["new"]), "value")
        self._path.observe(lambda change: self._on_path(change["new"]), "value")
        self._samples.observe(lambda change: self._on_sample(change["new"]), "value")
        self._drop_btn.on_click(lambda _: self.remove_image())
        pickers = widgets.HBox([self._upload, self._samples, self._drop_btn])
        self._image_row = widgets.HBox(
            [self._preview, widgets.VBox([pickers, self._path, self._image_label])])

    def _sync_buttons(self, busy: bool) -> None:
        self._send_btn.disabled = self._clear_btn.disabled = busy
        self._stop_btn.disabled = not busy

    def _show_live(self, text: str) -> None:
        self._answer.outputs = markdown_output(f"🤖 **Model**\n\n{text}▌")

    def _render(self) -> None:
        shown = [dict(m, content=f"🖼 `{self._image_turns[i]}`\n\n{m['content']}")
                 if i in self._image_turns else m for i, m in enumerate(self.messages)]
        self._history_view.outputs = markdown_output(transcript(shown))
        self._answer.outputs = ()
        self._system.disabled = bool(self.messages)  # fixed for the conversation: Clear to change

    def _preview_picture(self) -> None:
        """A thumbnail of the shown image (a few kB to the page, never the full image)."""
        picture = self._shown
        self._preview.layout.display = "none" if picture is None else "block"
        self._preview.value = b"" if picture is None else picture.thumbnail_png()
        self._show_picture()

    def _show_picture(self) -> None:
        """A line naming the shown image and whether the next question carries it."""
        picture = self._shown
        if picture is None:
            self._image_label.value = "<span style='color:#555'>no image</span>"
            return
        size = "×".join(map(str, picture.size))
        if picture.downscaled:
            size += f" (downscaled from {'×'.join(map(str, picture.original_size))})"
        when = ("sent with your next question" if picture is self.picture
                else "in the conversation: later questions are about it too")
        self._image_label.value = (f"<span style='color:#555'>🖼 {html.escape(picture.name)} · "
                                   f"{size} · {when}</span>")

    # choosing an image ------------------------------------------------------------------------
    def _on_upload(self, files: Any) -> None:
        if files:
            upload = files[-1]
            self._choose(bytes(upload["content"]), upload.get("name"))

    def _on_path(self, text: str) -> None:
        if text.strip():
            self._choose(text.strip())

    def _on_sample(self, path: Any) -> None:
        if path is not None:
            self._choose(path, from_samples=True)

    def _choose(self, source: Source, name: str | None = None,
                from_samples: bool = False) -> Picture | None:
        """Make ``source`` the image of the next question; None (error shown) if unreadable."""
        try:
            picture = load_image(source, name)
        except Exception as exc:  # a bad file is the learner's to fix, never the kernel's problem
            self._show_error(Outcome(error=explain(exc)))
            return None
        self._error.clear()
        self.last_error = ""
        if not from_samples:
            self._samples.value = None
        self.picture = self._shown = picture
        self._preview_picture()
        return picture

    def remove_image(self) -> None:
        """Ask the next question without an image (images already sent stay in the history)."""
        self.picture = self._shown = None
        self._samples.value = None
        self._preview_picture()

    # actions --------------------------------------------------------------------------------
    def send(self, text: str, image: Source | None = None,  # type: ignore[override]
             buffers: Any = None) -> str:
        """Ask ``text`` (about ``image``, else the chosen image) as the Send button does.

        Returns the answer ('' on error, which the widget shows).
        """
        if isinstance(text, dict):  # ipywidgets' own custom message (focus/blur use it)
            return super().send(text, buffers)
        picture = self.picture if image is None else self._choose(image)
        if image is not None and picture is None:
            return ""
        outcome = self._wait(self._submit(text, picture, queue=True))
        return outcome.value if outcome.ok else ""

    def stop(self) -> None:
        """Stop the running answer; what was generated so far stays in the conversation."""
        self._stopping.set()  # heard even before the run has its streamer
        if self._sink is not None:
            self._sink.stop_event.set()

    def clear(self) -> None:
        """Start a new conversation; the image in the preview goes with its first question."""
        if not self.busy:
            self.messages, self._image_turns, self._history = [], {}, None
            self.picture = self._shown
            self._render()
            self._show_picture()
            self._metrics_line.value = ""

    def _submit_from_view(self) -> None:
        if self._submit(self._prompt.value, self.picture) is not None:
            self._prompt.value = ""

    def _submit(self, text: str, picture: Picture | None, queue: bool = False) -> Any:
        text = text.strip()
        if not text:
            self._error.show("empty prompt: type a question first")
            self.last_error = "empty prompt"
            return None
        sink = TextSink(self._show_live)

        def work(loaded: Loaded) -> str:
            self._sink = sink
            if self._stopping.is_set():  # Stop came while it waited
                sink.stop_event.set()
            result = self._generate(loaded, text, picture, sink)
            sink.flush()
            self._record(text, picture, result)
            return result.texts[0]

        def done(outcome: Outcome) -> None:
            self._sink = None
            self._render()
            self._show_picture()

        return self._start(work, done, queue=queue)

    def _conversation(self) -> Any:
        """This conversation's ChatHistory; a new one opens with the current system prompt."""
        import openvino_genai as ov_genai

        if not self.messages:
            self._history = ov_genai.ChatHistory()
            system = self._system.value.strip()
            if system:
                self._history.append({"role": "system", "content": system})
        return self._history

    def _generate(self, loaded: Loaded, text: str, picture: Picture | None, sink: TextSink) -> Any:
        """One turn; on failure the question is taken back, so the history stays as it was."""
        history = self._conversation()
        kept = len(history.get_messages())
        history.append({"role": "user", "content": text})
        images = [picture.tensor()] if picture is not None else []
        try:
            check_context(loaded, history)
            result = loaded.pipe.generate(history, images=images, streamer=sink,
                                          generation_config=self._generation_config(loaded),
                                          **lora.call_kwargs(loaded, self._adapters.alphas()))
        except BaseException:
            while len(history.get_messages()) > kept:
                history.pop()
            raise
        history.append({"role": "assistant", "content": result.texts[0]})
        return result

    def _record(self, question: str, picture: Picture | None, result: Any) -> None:
        """Keep the exchange (a stopped answer as far as it got) and show its metrics."""
        if picture is not None:
            self._image_turns[len(self.messages)] = picture.name
            if self.picture is picture:
                self.picture = None  # sent: the history keeps it for later questions
        self.messages += [{"role": "user", "content": question},
                          {"role": "assistant", "content": result.texts[0]}]
        perf = result.perf_metrics
        self.metrics = {"ttft_ms": perf.get_ttft().mean, "tokens_per_s": perf.get_throughput().mean,
                        "tokens": perf.get_num_generated_tokens(),
                        "image_ms": perf.get_vision_encoding_duration().mean if picture else None}
        self._metrics_line.value = metrics_line(self.metrics)


def metrics_line(metrics: dict[str, Any]) -> str:
    """One grey line: image encoding (when an image was sent), first token, speed, tokens.

    A tiny vision encoder can report 0 ms: the image part shows whenever an image went out.
    """
    image_ms = metrics.get("image_ms")
    parts = [f"image encoded in {image_ms:.0f} ms"] if image_ms is not None else []
    parts += [f"first token {metrics['ttft_ms']:.0f} ms", f"{metrics['tokens_per_s']:.1f} tokens/s",
              f"{metrics['tokens']:.0f} tokens"]
    return f"<span style='color:#555'>{' · '.join(parts)}</span>"

