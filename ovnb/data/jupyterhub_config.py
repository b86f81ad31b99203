# JupyterHub for an ovnb workshop: real accounts, one read-only model cache, a memory limit each.
#
# Write this file out with `ovnb classroom --config /etc/jupyterhub/jupyterhub_config.py`, edit the
# three settings below, then, as root, on the machine that holds the learners' accounts:
#
#     pip install jupyterhub jupyterhub-systemdspawner   # beside ovnb, in the same environment
#     npm install -g configurable-http-proxy
#     ovnb prepare --from workshop.txt --cache-dir /srv/ovnb-cache   # stage the models once
#     chmod -R a+rX,go-w /srv/ovnb-cache                             # read-only for the learners
#     ovnb doctor --classroom 30 --cache-dir /srv/ovnb-cache         # do 30 learners fit here?
#     ovnb classroom --course /srv/ovnb-course   # optional: the series as nbgrader assignments
#     jupyterhub -f /etc/jupyterhub/jupyterhub_config.py
#
# The learners then log in at http://THIS-MACHINE:8000 with their usual account and password.
# Put TLS in front (a reverse proxy, or c.JupyterHub.ssl_cert / ssl_key) before using it on a
# network you do not trust.
import importlib.util
import os

from ovnb import classroom
from ovnb.errors import OvnbError

# staged by the instructor; learners only read it (the hub's own OVNB_CACHE, if set, wins)
SHARED_CACHE = os.environ.get("OVNB_CACHE") or "/srv/ovnb-cache"
# made by `ovnb classroom --course`: learners fetch and submit the exercises through nbgrader
COURSE = "/srv/ovnb-course"
LEARNERS = "workshop"  # the learners' Unix group: groupadd workshop; useradd -m -G workshop NAME
INSTRUCTORS = {"instructor"}  # accounts that get the hub's admin page (start, stop, watch servers)

c = get_config()  # noqa: F821 (JupyterHub provides it)

# Who: real accounts on this machine, with their own password (PAM), limited to the group.
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {LEARNERS}
c.Authenticator.admin_users = INSTRUCTORS

# What each learner gets: JupyterLab in their home, as themselves, and the shared cache. Their
# kernels load the staged models without writing there; compiled blobs go to their own
# ~/.cache/ovnb-compiled. HF_HUB_OFFLINE=1: nothing waits for the hub during class.
c.Spawner.default_url = "/lab"
c.Spawner.environment = {"OVNB_CACHE": SHARED_CACHE, "HF_HUB_OFFLINE": "1",
                         "TOKENIZERS_PARALLELISM": "false"}
if os.path.isdir(COURSE + "-learners"):  # nbgrader's Assignments tab finds the course there
    c.Spawner.environment["JUPYTER_CONFIG_PATH"] = COURSE + "-learners"

# How much memory: the catalog's estimate for a learner with every staged model loaded, plus the
# Jupyter server and kernel (`ovnb doctor --classroom N` prints the same figures). It includes the
# weights, which the machine holds once for everybody: a cgroup charges those pages to the learner
# who read them first, so each learner needs room for them.
try:
    c.Spawner.mem_limit = classroom.memory_limit(SHARED_CACHE)
except OvnbError as exc:  # nothing staged yet: say so in one line instead of starting the hub
    raise SystemExit(f"jupyterhub_config.py: {exc}") from None
if importlib.util.find_spec("systemdspawner"):
    # systemd runs each learner's server in its own unit and enforces mem_limit (MemoryMax)
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
    c.SystemdSpawner.isolate_tmp = True  # a private /tmp each (not isolate_devices: GPU and NPU
    # live in /dev, and learners' kernels may use them)
else:
    # the default spawner runs each server as its learner but does not enforce mem_limit (it is
    # only shown to the learner's server as MEM_LIMIT): pip install jupyterhub-systemdspawner
    c.JupyterHub.spawner_class = "localprocess"

# A whole class logs in within minutes: thirty servers starting at once on a few cores take longer
# than JupyterHub's default 60 s.
c.Spawner.start_timeout = 180
