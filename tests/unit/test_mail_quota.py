from datetime import timedelta

from adapters.memory_attempts import InMemoryAttemptCounter
from application.mail_quota import MailQuota
from domain.mail import MailKind
from tests.fakes import FakeClock


def quota(per_account: int, clock: FakeClock) -> MailQuota:
    return MailQuota(
        counter=InMemoryAttemptCounter(),
        clock=clock,
        per_account=per_account,
        window=timedelta(minutes=15),
    )


async def test_an_account_gets_its_quota_of_one_kind_per_window_then_nothing_until_it_ends():
    clock = FakeClock()
    mail = quota(3, clock)
    assert [await mail.take(MailKind.PASSWORD_RESET, "u1") for _ in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    clock.advance(minutes=15)
    assert await mail.take(MailKind.PASSWORD_RESET, "u1")


async def test_kinds_and_accounts_have_quotas_of_their_own():
    mail = quota(1, FakeClock())
    assert await mail.take(MailKind.PASSWORD_RESET, "u1")
    assert await mail.take(MailKind.VERIFY_EMAIL, "u1")
    assert await mail.take(MailKind.PASSWORD_RESET, "u2")
    assert not await mail.take(MailKind.PASSWORD_RESET, "u1")


async def test_zero_is_no_quota():
    mail = quota(0, FakeClock())
    assert all([await mail.take(MailKind.NEW_DEVICE, "u1") for _ in range(50)])
