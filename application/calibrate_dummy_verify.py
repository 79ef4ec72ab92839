from domain.ports import PasswordHasher, Store, UserRepository


class CalibrateDummyVerify:
    """Keep the cost of an unknown user's login equal to the cost of a stored user's.

    - A login of an unknown user verifies the password against a dummy hash, so that it takes
      as long as a real user's. After a change of the argon2 parameters, stored hashes keep the
      old cost until their user logs in again: a dummy at the new cost alone would tell an
      unknown user from every user still at the old cost.
    - So the dummy follows the stored population: the store counts the users of each set of
      hash parameters, and the hasher makes unknown users cost those sets in those proportions,
      fixed per username (PasswordHasher.calibrate_dummy).
    - The choice is keyed by the store's shared secret (the key it keeps for device cookies,
      used under a label of its own), so every instance chooses alike for a name.
    - Run at start and every few minutes; while the store is down the previous picture stays.
    """

    def __init__(self, *, users: UserRepository, store: Store, hasher: PasswordHasher) -> None:
        self._users = users
        self._store = store
        self._hasher = hasher

    async def execute(self) -> dict[str, int]:
        stored = await self._users.password_hash_parameters()
        await self._hasher.calibrate_dummy(stored, await self._store.device_key())
        return stored
