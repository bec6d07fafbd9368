"""The delivery worker's HTTP client keeps nothing a receiver sets for the next request."""

from __future__ import annotations

import httpx

from intentcast.delivery.worker import delivery_client


async def test_a_cookie_one_receiver_sets_is_never_sent_again() -> None:
    seen: list[str | None] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(204, headers={"set-cookie": "session=vendor-a; Path=/; Max-Age=3600"})

    async with delivery_client(transport=httpx.MockTransport(receiver)) as client:
        await client.post("http://127.0.0.1:9000/hook/a", content=b"{}")
        await client.post("http://127.0.0.1:9000/hook/b", content=b"{}")
        assert len(client.cookies.jar) == 0
    assert seen == [None, None]


async def test_redirects_are_not_followed() -> None:
    def receiver(request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"location": "http://10.0.0.1/internal"})

    async with delivery_client(transport=httpx.MockTransport(receiver)) as client:
        response = await client.post("http://127.0.0.1:9000/hook", content=b"{}")
    assert response.status_code == 307
