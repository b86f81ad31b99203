"""The one exception type ovnb raises for problems a user can fix; its message names the fix."""
from __future__ import annotations


class OvnbError(Exception):
    """A user-fixable problem, described in one line that says what to do."""


class HubUnreachable(OvnbError):
    """The Hugging Face hub (or the HF_ENDPOINT mirror) could not be reached or is switched off."""
