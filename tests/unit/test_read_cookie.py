"""read_cookie: the one parser of the Cookie header, for the session and the device cookie."""

import pytest

from entrypoints.http.cookies import read_cookie

NAME = b"session_id"


@pytest.mark.parametrize(
    "headers, expected",
    [
        ([], None),
        ([(b"cookie", b"theme=dark")], None),
        ([(b"cookie", b"session_id=A")], "A"),
        ([(b"cookie", b"session_id=A; session_id=B")], "A"),  # the first (RFC 6265: most specific)
        ([(b"cookie", b"session_id=A"), (b"cookie", b"session_id=B")], "A"),  # across headers too
        ([(b"cookie", b"theme=dark"), (b"cookie", b"session_id=B")], "B"),
        ([(b"cookie", b'session_id="A"')], "A"),
        ([(b"cookie", b'session_id="A')], '"A'),  # not a pair of quotes: left as it is
        ([(b"cookie", b'session_id=""')], ""),
        ([(b"cookie", b"session_id=")], ""),  # present, empty: a cookie naming no session
        ([(b"cookie", b"  session_id = A ;x=1")], "A"),
        ([(b"cookie", b"session_id; session_id=B")], "B"),  # no `=`: names nothing
        ([(b"cookie", b"xsession_id=A; session_id_device=B")], None),
        ([(b"cookie", b"session_id=A=B")], "A=B"),
        ([(b"cookie", b"session_id=\xff\xfe")], "\xff\xfe"),  # decodes; refused later as malformed
        ([(b"x-cookie", b"session_id=A")], None),
    ],
)
def test_read_cookie(headers, expected):
    assert read_cookie(headers, NAME) == expected
