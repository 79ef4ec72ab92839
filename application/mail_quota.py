import math
from datetime import timedelta

from domain.errors import Throttled
from domain.mail import MailKind
from domain.ports import AttemptCounter, Clock


class MailQuota:
    """How many messages of one kind one account may be sent in a window (MAIL_PER_ACCOUNT per
    THROTTLE_WINDOW), so that nobody can mail-bomb an address through the service.

    - Counted on the shared attempt counters, so the quota holds across every instance.
    - Over the quota a message is dropped silently: the request that asked for it is answered
      as usual, so the answer tells nothing about the account.
    - `per_account` 0 is no quota.
    """

    def __init__(
        self, *, counter: AttemptCounter, clock: Clock, per_account: int, window: timedelta
    ) -> None:
        self._counter = counter
        self._clock = clock
        self._per_account = per_account
        self._window = window

    async def take(self, kind: MailKind, user_id: str) -> bool:
        """True, and one message of `kind` counted, when the account is within its quota."""
        if self._per_account == 0:
            return True
        taken, _ = await self._counter.acquire(
            f"mail:{kind}:{user_id}", self._per_account, self._clock.now(), self._window
        )
        return taken

    async def take_or_refuse(self, kind: MailKind, user_id: str) -> None:
        """As `take`, for a request made by the account itself (it learns nothing it does not
        know): over the quota is Throttled, with the seconds until the window ends."""
        if self._per_account == 0:
            return
        now = self._clock.now()
        taken, count = await self._counter.acquire(
            f"mail:{kind}:{user_id}", self._per_account, now, self._window
        )
        if not taken:
            raise Throttled(retry_after=math.ceil((count.resets_at - now).total_seconds()))
