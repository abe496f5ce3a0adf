"""Vertex AI credentials: refreshed ahead of expiry, once for concurrent requests, never in the loop."""

from __future__ import annotations

import asyncio
import datetime
import threading

import pytest

from proxy.errors import ProxyError
from proxy.google_auth import GoogleToken

google_auth = pytest.importorskip("google.auth", reason="google-auth is the optional 'vertex' extra")


class FakeCredentials:
    """What google-auth's credentials expose: token, expiry (naive UTC) and refresh(request)."""

    def __init__(self, lifetime: datetime.timedelta) -> None:
        self.token: str | None = None
        self.expiry: datetime.datetime | None = None
        self.lifetime = lifetime
        self.refreshes = 0
        self.threads: set[int] = set()

    def refresh(self, request: object) -> None:
        self.refreshes += 1
        self.threads.add(threading.get_ident())
        self.token = f"ya29.token-{self.refreshes}"
        self.expiry = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + self.lifetime


async def test_token_is_cached_until_close_to_expiry() -> None:
    credentials = FakeCredentials(datetime.timedelta(hours=1))
    source = GoogleToken(credentials)
    assert await source.token() == "ya29.token-1"
    assert await source.token() == "ya29.token-1"
    assert credentials.refreshes == 1
    assert threading.get_ident() not in credentials.threads  # refreshed in a worker thread


async def test_token_about_to_expire_is_refreshed_first() -> None:
    credentials = FakeCredentials(datetime.timedelta(minutes=2))  # inside the 5-minute margin
    source = GoogleToken(credentials)
    assert await source.token() == "ya29.token-1"
    assert await source.token() == "ya29.token-2"


async def test_concurrent_requests_share_one_refresh() -> None:
    credentials = FakeCredentials(datetime.timedelta(hours=1))
    source = GoogleToken(credentials)
    tokens = await asyncio.gather(*(source.token() for _ in range(20)))
    assert set(tokens) == {"ya29.token-1"} and credentials.refreshes == 1


async def test_application_default_credentials_are_looked_up_once(monkeypatch) -> None:
    credentials = FakeCredentials(datetime.timedelta(hours=1))
    calls = []

    def fake_default(scopes):
        calls.append(scopes)
        return credentials, "my-project"

    monkeypatch.setattr(google_auth, "default", fake_default)
    source = GoogleToken()
    assert await source.token() == "ya29.token-1"
    assert await source.token() == "ya29.token-1"
    assert calls == [["https://www.googleapis.com/auth/cloud-platform"]]


async def test_missing_credentials_is_a_clear_502(monkeypatch) -> None:
    import google.auth.exceptions

    def no_credentials(scopes):
        raise google.auth.exceptions.DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google_auth, "default", no_credentials)
    with pytest.raises(ProxyError) as err:
        await GoogleToken().token()
    assert err.value.status == 502 and "default credentials were not found" in err.value.message
