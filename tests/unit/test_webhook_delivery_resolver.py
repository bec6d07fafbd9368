"""The delivery worker's DNS answers are reused for a few seconds, and checked every time."""

from __future__ import annotations

import pytest

from intentcast.delivery import webhooks
from intentcast.delivery.webhooks import CachingResolver, UnsafeDestination, resolve_checked


class Answers:
    def __init__(self, *answers: list[str] | Exception) -> None:
        self.answers = list(answers)
        self.asked = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_an_answer_is_reused_within_its_ttl_then_asked_again(monkeypatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(webhooks.time, "monotonic", lambda: clock[0])
    dns = Answers(["93.184.216.34"], ["93.184.216.35"])
    resolver = CachingResolver(dns, ttl_s=10.0)
    assert await resolver("hooks.example.com", 443) == ["93.184.216.34"]
    clock[0] += 9.9
    assert await resolver("hooks.example.com", 443) == ["93.184.216.34"]
    assert dns.asked == 1
    clock[0] += 0.2
    assert await resolver("hooks.example.com", 443) == ["93.184.216.35"]
    assert dns.asked == 2


async def test_answers_are_per_host_and_port_and_failures_are_not_kept() -> None:
    dns = Answers(OSError("SERVFAIL"), ["93.184.216.34"], ["93.184.216.36"])
    resolver = CachingResolver(dns)
    with pytest.raises(OSError):
        await resolver("a.example.com", 443)
    assert await resolver("a.example.com", 443) == ["93.184.216.34"]
    assert await resolver("a.example.com", 8443) == ["93.184.216.36"]
    assert await resolver("a.example.com", 443) == ["93.184.216.34"]
    assert dns.asked == 3


async def test_a_reused_answer_is_checked_on_every_attempt() -> None:
    dns = Answers(["10.0.0.7"])
    resolver = CachingResolver(dns)
    for _ in range(2):
        with pytest.raises(UnsafeDestination):
            await resolve_checked("db.corp.example", 443, allow_loopback=False, resolver=resolver)
    assert dns.asked == 1


async def test_the_cache_is_bounded() -> None:
    dns = Answers(*([["93.184.216.34"]] * 5))
    resolver = CachingResolver(dns, max_entries=2)
    for host in ("a.example.com", "b.example.com", "c.example.com"):
        await resolver(host, 443)
    assert len(resolver._answers) <= 2
