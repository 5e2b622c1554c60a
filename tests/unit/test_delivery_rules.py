"""The retry schedule and the signatures, against tables and independently computed values."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from syncline.delivery import schedule, signing

# attempts failed -> seconds to wait (no jitter), None = dead letter
SCHEDULE_TABLE = [
    (1, 5),
    (2, 5),
    (3, 30),
    (4, 30),
    (5, 60),
    (6, 120),
    (7, 300),
    (8, 600),
    (9, 900),
    (10, 1800),
    (11, 3600),
    (12, 7200),
    (13, 14400),
    (17, 14400),
    (18, None),
    (40, None),
]


@pytest.mark.parametrize(("attempts", "expected"), SCHEDULE_TABLE)
def test_schedule(attempts: int, expected: int | None) -> None:
    assert schedule.next_attempt_delay(attempts) == expected


def test_schedule_spans_about_a_day() -> None:
    total = sum(schedule.next_attempt_delay(n) or 0 for n in range(1, schedule.MAX_ATTEMPTS))
    assert 23 * 3600 < total < 25 * 3600


@pytest.mark.parametrize(("draw", "low", "high"), [(0.0, 4.5, 4.5), (0.999, 5.49, 5.5)])
def test_jitter_stays_within_ten_percent(draw: float, low: float, high: float) -> None:
    delay = schedule.next_attempt_delay(1, draw=draw)
    assert delay is not None
    assert low <= delay <= high


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(None, 30), (10, 30), (90, 90), (10**9, 4 * 3600)],
)
def test_retry_after_only_ever_lengthens_the_wait(retry_after: int | None, expected: int) -> None:
    assert schedule.next_attempt_delay(3, retry_after) == expected


def test_scale_shrinks_the_schedule_but_not_retry_after() -> None:
    assert schedule.next_attempt_delay(3, None, scale=0.001) == pytest.approx(0.03)
    assert schedule.next_attempt_delay(3, 2, scale=0.001) == 2


def test_retry_after_is_capped_but_never_revives_a_dead_letter() -> None:
    assert schedule.next_attempt_delay(schedule.MAX_ATTEMPTS, 5) is None


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="attempts"):
        schedule.next_attempt_delay(0)


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        ("120", 0, 120.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 30, 30.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 + 30, 0.0),
        ("soon", 0, None),
        ("", 0, None),
        (None, 0, None),
    ],
)
def test_parse_retry_after(value: str | None, now: float, expected: float | None) -> None:
    assert schedule.parse_retry_after(value, now) == expected


def test_comapi_signature_is_hex_hmac_sha1_of_the_raw_body() -> None:
    # RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?"
    body = b"what do ya want for nothing?"
    assert signing.comapi_signature("Jefe", body) == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"


def test_standard_webhooks_signature_matches_the_spec_example() -> None:
    # The example of the Standard Webhooks specification (standard-webhooks.com).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    timestamp = 1614265330
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signing.standard_signature(secret, msg_id, timestamp, body) == expected


def test_plain_secrets_sign_with_their_utf8_bytes() -> None:
    body = b"{}"
    expected = hmac.new(b"0123456789abcdef", b"m.1.{}", hashlib.sha256).digest()
    got = signing.standard_signature("0123456789abcdef", "m", 1, body)
    assert got == "v1," + base64.b64encode(expected).decode()


def test_rotation_sends_both_signatures() -> None:
    headers = signing.headers(["new-secret-0123456789", "old-secret-0123456789"], "id1", 5, b"x")
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert headers["X-Comapi-Signature"] == signing.comapi_signature("new-secret-0123456789", b"x")
    assert headers["X-Comapi-Signature-Previous"] == signing.comapi_signature(
        "old-secret-0123456789", b"x"
    )
    single = signing.headers(["new-secret-0123456789"], "id1", 5, b"x")
    assert "X-Comapi-Signature-Previous" not in single
    assert single["webhook-id"] == "id1"
    assert single["webhook-timestamp"] == "5"
