"""Signatures a receiver using the `standardwebhooks` package accepts, before and after rotation."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from shared.webhooks.models import WebhookSecret
from shared.webhooks.service import signing_keys
from shared.webhooks.signing import new_secret, signed_headers

BODY = json.dumps({"type": "run.completed", "data": {"run": {"id": "run_1", "x": "é"}}})


def test_secrets_are_whsec_base64_of_32_bytes_and_unique() -> None:
    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_") and a != b
    assert len(base64.b64decode(a.removeprefix("whsec_"))) == 32


def test_a_receiver_verifies_the_headers() -> None:
    secret = new_secret()
    headers = signed_headers([secret], "msg_1", BODY, dt.datetime.now(dt.UTC))
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY.encode(), headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY.encode(), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace("run_1", "run_2").encode(), headers)


def test_both_secrets_sign_during_the_rotation_overlap() -> None:
    now = dt.datetime.now(dt.UTC)
    row = WebhookSecret(
        user_id="u",
        secret=new_secret(),
        previous_secret=new_secret(),
        previous_expires_at=now + dt.timedelta(hours=1),
    )
    keys = signing_keys(row, now)
    assert keys == [row.secret, row.previous_secret]
    headers = signed_headers(keys, "msg_1", BODY, now)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for key in keys:
        Webhook(key).verify(BODY.encode(), headers)
    assert signing_keys(row, now + dt.timedelta(hours=2)) == [row.secret]
    assert repr(row) == "WebhookSecret(user_id='u')"  # a secret never rides a repr into a log
