"""Google Application Default Credentials for Gemini on Vertex AI's OpenAI-compatible endpoint.

google-auth (the well-kept library) finds the credentials (a service-account file named by
GOOGLE_APPLICATION_CREDENTIALS, gcloud's user login, or the metadata server) and refreshes them;
dragoman only decides when. A token is refreshed ahead of its expiry, in a worker thread (the
refresh is blocking I/O), once for all concurrent requests. google-auth is an optional
dependency: ``pip install 'dragoman[vertex]'``.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

from .errors import ProxyError

__all__ = ["GoogleToken", "SCOPES"]

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_MARGIN = datetime.timedelta(minutes=5)  # refresh this long before the token expires


class GoogleToken:
    """``await token()`` -> a bearer token that is valid for at least a few more minutes."""

    def __init__(self, credentials: Any = None) -> None:
        self._credentials = credentials
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        credentials = self._credentials
        if credentials is None or _stale(credentials):
            async with self._lock:  # one refresh for all the requests that found it stale
                credentials = self._credentials
                if credentials is None or _stale(credentials):
                    credentials = await asyncio.to_thread(_refreshed, credentials)
                    self._credentials = credentials
        return str(credentials.token)


def _stale(credentials: Any) -> bool:
    if not credentials.token:
        return True
    expiry = credentials.expiry  # google-auth keeps it as a naive UTC datetime
    if expiry is None:
        return False
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return bool(expiry - now < _MARGIN)


def _refreshed(credentials: Any) -> Any:
    try:
        import google.auth
        import google.auth.exceptions
        import google.auth.transport.requests
    except ImportError:
        raise ProxyError(502, "A provider uses Google credentials but google-auth is not installed "
                              "(pip install 'dragoman[vertex]').") from None
    try:
        if credentials is None:
            credentials, _project = google.auth.default(scopes=list(SCOPES))
        credentials.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.GoogleAuthError as exc:
        raise ProxyError(502, f"Could not get Google credentials for the provider: {exc}") from None
    return credentials
