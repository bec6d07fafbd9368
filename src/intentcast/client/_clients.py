"""``AsyncClient`` and ``Client``: the same resources over ``httpx.AsyncClient`` or
``httpx.Client``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Generic, Self

import httpx

from intentcast.client._endpoints import R
from intentcast.client._flows import RetryPolicy
from intentcast.client._resources import (
    Accounts,
    Admin,
    BuyerAccount,
    Intents,
    Meta,
    Offers,
    Subscriptions,
    Threads,
    VendorChannels,
    Webhooks,
)
from intentcast.client._runner import AsyncRunner, SyncRunner, default_sleep

USER_AGENT = "intentcast-client/1"


class _Client(Generic[R]):
    """The resources, bound to one runner (connection pool, retries) and one token."""

    _http_class: type[httpx.AsyncClient] | type[httpx.Client]
    _runner_class: type[AsyncRunner] | type[SyncRunner]

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        http: Any = None,
        transport: Any = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Any] | None = None,
        timeout: float = 10.0,
    ) -> None:
        """``base_url`` of the server (``http://localhost:8000``) and the caller's ``token``
        (none for sign-ups and public routes). ``transport`` chooses how requests travel; or
        give ``http``, an httpx client of your own (a test client, say) with its base URL,
        instead of both (it is not closed with this client). ``retry`` and ``sleep`` shape
        the retries."""
        if http is not None and (base_url is not None or transport is not None):
            raise TypeError("give either http, or base_url and transport")
        self._owns_http = http is None
        if http is None:
            http = self._http_class(
                base_url=base_url or "",
                transport=transport,
                timeout=timeout,
                headers={"User-Agent": USER_AGENT},
            )
        asynchronous = self._runner_class is AsyncRunner
        runner = self._runner_class(
            http, retry or RetryPolicy(), sleep or default_sleep(asynchronous)
        )
        self._bind(runner, token)

    def _bind(self, runner: Any, token: str | None) -> None:
        self._runner: R = runner
        self.token = token
        headers: Mapping[str, str] = {"Authorization": f"Bearer {token}"} if token else {}
        self.meta: Meta[R] = Meta(runner, headers)
        self.accounts: Accounts[R] = Accounts(runner, headers)
        self.intents: Intents[R] = Intents(runner, headers)
        self.offers: Offers[R] = Offers(runner, headers)
        self.threads: Threads[R] = Threads(runner, headers)
        self.buyer: BuyerAccount[R] = BuyerAccount(runner, headers)
        self.subscriptions: Subscriptions[R] = Subscriptions(runner, headers)
        self.webhooks: Webhooks[R] = Webhooks(runner, headers)
        self.vendor: VendorChannels[R] = VendorChannels(runner, headers)
        self.admin: Admin[R] = Admin(runner, headers)

    def with_token(self, token: str | None) -> Self:
        """A client for another account over the same connections (closing it is a no-op;
        close the one that opened them)."""
        other = object.__new__(type(self))
        other._owns_http = False
        other._bind(self._runner, token)
        return other

    @property
    def http(self) -> Any:
        """The httpx client underneath."""
        return self._runner.http


class AsyncClient(_Client[AsyncRunner]):
    """The intentcast API over ``httpx.AsyncClient``: ``await`` calls, ``async for`` lists
    and streams. Use it as an async context manager, or ``await client.aclose()``."""

    _http_class = httpx.AsyncClient
    _runner_class = AsyncRunner

    async def aclose(self) -> None:
        if self._owns_http:
            await self._runner.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class Client(_Client[SyncRunner]):
    """The intentcast API over ``httpx.Client``, blocking: calls return values, lists and
    streams are iterators. Use it as a context manager, or call ``close()``."""

    _http_class = httpx.Client
    _runner_class = SyncRunner

    def close(self) -> None:
        if self._owns_http:
            self._runner.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
