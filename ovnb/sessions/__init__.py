"""Widget-free sessions, one per pipeline family: load, run, stop, metrics (usable from scripts).

Each ovnb widget is a view of one of these; ``widget.session`` is it.
"""
