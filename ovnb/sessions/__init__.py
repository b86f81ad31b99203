"""Widget-free sessions, one per pipeline family: load, run, stop, metrics (usable from scripts).

Each ovnb widget holds one of these (``widget.session``) and a view of it. How a family's session
is written (the family itself is declared in ``ovnb.families``):

- **Settings** are a ``Settings`` mixin (``settings.py``) of traits made with ``setting(trait,
  label, low, high, step, control=...)`` under openvino_genai's names, plus one ``@validate`` over
  all of them calling ``_check_setting``; views build their controls from the traits' metadata
  (``widgets.render.setting_controls``). A constructor passes ``**settings`` to ``self._apply`` (an
  unknown name is a TypeError at once); model defaults go through ``self._adopt``; a range known
  only once the model is loaded is set with ``self._narrow``.
- **State** a view shows (messages, transcript, gallery, metrics, live text...) is traits.
  Workers never set it directly: ``self.publish(**values)`` posts the change to the view thread
  (``ovnb.runtime.views``), where observers run; callers that are no worker (the main thread:
  refusals, choosing an input) use ``publish_now``, ``succeed`` or ``fail``.
- **Loading**: the constructor calls ``self._open(model, device, properties)`` and
  ``self._load_in_background(lambda: self._load(model), self.model_name)``; ``_load`` takes
  ``self._folder(model)`` (device checked first, prepared, checked to be of the family) and
  builds through ``runtime.pipelines.load(family, ...)`` (shared, per-key lock).
- **Runs** go through ``Session.start(work, done, queue)`` (``base.py``): ``work(loaded, job)``
  runs on a worker under the pipeline's lock. The public method is one line,
  ``return self.call(self.submit(..., queue=True), empty)``; a button calls ``submit`` (refused
  while busy). Read state inside ``work`` (a queued call must see the previous run's result).
  Tell the job what to stop: ``self.token_stream(job, tokenizer, on_text)`` for a streamer,
  ``StepWatch.for_job`` for a step callback, ``job.on_stop(...)`` for anything else, and check
  ``job.stopped`` between steps of your own; call ``job.progressed()`` at the first progress. A
  run that stops with nothing to keep raises ``errors.Stopped(where)``. Every error is one line
  (``OvnbError`` for what a user can fix).
- **LoRA**: mix in ``adapters.WithAdapters`` (the family's record says how layers are named).
"""
