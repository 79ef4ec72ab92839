"""Whether this process should be sent traffic: what `/readyz` answers.

One instance per app (`app.state.readiness`, the container's). The start-up path
(entrypoints/bring_up.py) marks the store ready once it answers and its schema is current; the
shutdown path marks the process draining on SIGTERM, after which `/readyz` answers 503 while
requests are still served. Once ready, `/readyz` also asks the store itself, on a path of its
own (Store.ping)."""

from __future__ import annotations

from dataclasses import dataclass

# The key under which the app's lifespan state holds its Readiness: the server that runs the app
# (entrypoints/server.py) finds it there to mark it draining on SIGTERM.
LIFESPAN_KEY = "readiness"


@dataclass
class Readiness:
    store_ready: bool = False
    draining: bool = False
    # Why the store is not ready yet, for the log (never a secret). /readyz's body keeps to the
    # spec's {"status": "unavailable"}: the reason is for the operator, not any client.
    reason: str = "starting"

    @property
    def ready(self) -> bool:
        return self.store_ready and not self.draining
