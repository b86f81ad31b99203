"""The runtime core every session shares, one module per concern.

- ``pipelines``: pipelines built once per settings by their family's builder, shared, locked;
- ``views``: the one view thread where every published change is applied;
- ``jobs``: a request run on a worker thread, stoppable at any moment, its outcome kept;
- ``streams``: token streams decoded on the view thread at a bounded rate.

Error text (one line for any exception) is ``ovnb.errors``; devices are ``ovnb.devices``.
"""
