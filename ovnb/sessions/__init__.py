"""Widget-free sessions, one per pipeline family: load, run, stop, metrics (usable from scripts).

Each ovnb widget is a view of one of these; ``widget.session`` is it. How a family is built:

- **Settings** are a ``Settings`` mixin (``settings.py``) of traits made with ``setting(trait,
  label, low, high, step, control=...)`` under openvino_genai's names, plus one ``@validate`` over
  all of them calling ``check_setting``. Both the session and its widget inherit the mixin, so both
  validate alike; the widget builds its controls from the traits' metadata
  (``widgets.render.setting_controls``). A constructor passes ``**settings`` to ``self.apply`` (an
  unknown name is a TypeError at once); model defaults go through ``self.adopt``; a range known only
  once the model is loaded is set with ``self.narrow``.
- **State** a view shows (messages, transcript, gallery, metrics, live text...) is a ``HasTraits``
  mixin shared the same way. Workers never set it directly: ``self.publish(**values)`` posts the
  change to the view thread (``ovnb.runtime``), where observers run; callers that are no worker
  (the main thread: refusals, choosing an input) use ``publish_now``.
- **Runs** go through ``Session.start(work, done, queue)`` (``base.py``): ``work(loaded)`` runs on a
  worker under the pipeline's lock; a programmatic method starts with ``queue=True`` and returns
  ``self.call(job)`` (Ctrl-C stops the run); a button starts with ``queue=False`` (refused while
  busy). Read state inside ``work`` (a queued call must see the previous run's result). A run
  checks ``self.stopping`` when it begins and overrides ``_on_stop`` to tell its streamer or
  callback. Streaming text uses ``runtime.TokenStream`` (token ids, decoded on the view thread);
  native callbacks only ``post``. Every error is one line (``OvnbError`` for what a user can fix).
- **Loading** is ``self._load_in_background(lambda: self._load(model), name)``, where ``_load``
  checks the device first (``runtime.check_device``), then ``folders.model_folder(model, kind,
  precision)``, then builds through ``runtime.load`` (shared, per-key lock).
- **LoRA**: mix in ``adapters.WithAdapters``.
"""
