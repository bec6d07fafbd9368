"""Free-text scrubbing: removes contact data from buyer text before vendors see it.

This module owns the privacy promise "free text is scrubbed of e-mail addresses, phone
numbers and URLs" (PRODUCT.md, "The privacy model").  It is pure: no I/O, no clock, no
randomness; the same input always gives the same output.

Detection runs in a fixed order on a working copy of the text.  Each finding is *masked* in
the working copy (replaced by "[", NUL characters and "]", the same length) so that later
detectors can neither see it again nor join text across it, see the same boundary a marker
will show on a second pass (so scrubbing is idempotent), and offsets stay those of the
original text:

1. e-mail addresses, plain (``john.doe+tag@example.co.uk``) and obfuscated
   (``john at example dot com``, ``john(at)example(dot)com``, ``j o h n @ gmail . com``);
2. links: ``https://…``, ``www.…`` and bare domains with a known top-level domain
   (``example.com/shop``, ``shop.example.de``);
3. social handles (``@name_123``);
4. phone numbers.  Phone candidates are digit runs found by a cheap regex after dates,
   times, year ranges and money amounts have been masked; each candidate (or, failing that,
   each run of its space-separated groups) is judged with ``phonenumbers`` against the
   buyer's region hint plus a short list of fallback regions, with extra rules that keep
   years, prices, ranges and model numbers out.  Running ``PhoneNumberMatcher`` once per
   region costs milliseconds per text, this costs tens of microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

import msgspec
import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata

__all__ = ["MARKERS", "Redaction", "ScrubResult", "scrub"]


class Redaction(msgspec.Struct, frozen=True):
    """One removed finding; ``start``/``end`` are offsets in the original text."""

    kind: str
    start: int
    end: int
    field: str = ""


class ScrubResult(msgspec.Struct, frozen=True):
    """Scrubbed text and what was removed from it, in text order."""

    text: str
    redactions: tuple[Redaction, ...]


MARKERS: dict[str, str] = {
    "email": "[email removed]",
    "phone": "[phone removed]",
    "url": "[link removed]",
    "handle": "[handle removed]",
}

_MASK = "\x00"

# --------------------------------------------------------------------------- vocabularies

# Top-level domains accepted for bare domains (``example.com``) and obfuscated e-mails.
_STRONG_TLDS = (
    "com net org edu gov info biz io co uk de fr es nl eu ch pl se dk fi ie pt gr cz sk hu ro "
    "bg hr si lt lv ee lu li ru ua ca au nz jp cn kr br mx ar cl za sg hk tw ae il tr "
    "shop store online site app dev xyz tech blog club page link live news pro gmbh berlin "
    "bayern wien swiss nyc london tk ly gl gg cc fm ws mobi name jobs museum travel"
).split()
# TLDs that are also everyday words ("it", "to", "me"): a bare domain with one of these needs
# a path, a subdomain or "www"/a scheme to count as a link.
_WEAK_TLDS = "in it to me at be is us no so do go am an as by my on or la ai tv sh".split()
_ALL_TLDS = sorted(set(_STRONG_TLDS) | set(_WEAK_TLDS), key=lambda t: (-len(t), t))
_TLD_ALT = "|".join(_ALL_TLDS)
_WEAK_TLD_SET = frozenset(_WEAK_TLDS)

_MAIL_PROVIDERS = (
    "gmail|googlemail|gmx|yahoo|hotmail|outlook|icloud|protonmail|proton|aol|t-online|"
    "posteo|mailbox|yandex|zoho|freenet|arcor|orange|libero|laposte|wanadoo"
)

# Words that can stand before " at " in normal prose; "available at shop.example.de" must
# not eat "available" as a mail user name.
_PROSE_WORDS = frozenset(
    """a an the i me you he she it we they us him her them my your our their this that these
    those here there who what where when which is am are was were be been being do does did
    have has had get got look looking looked arrive arrived arriving meet meeting available
    bought buy buying sold sell selling sale find found see seen listed pickup collect
    collection shop shopping store stores online offer offers offered price priced cheaper
    cheap best home work office stay staying live living based located delivery deliver
    delivered ship shipped shipping order ordered ordering pay paid paying start starting
    end ending only also even just still and or but not all one two some any aim aimed
    hit good great fine ok okay cost costs costing up down out in on of to for from with
    by via gb mb tb kg km cm mm""".split()
)

# ------------------------------------------------------------------------------- e-mails

_EMAIL_PLAIN = re.compile(
    r"(?<![\w.%+\-\]])[\w%+\-](?:[\w.%+\-]*[\w%+\-])?@[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_]{2,}"
    r"(?![\w\-\[])"
)

# Obfuscated addresses are found from their "at" separator outwards: the separator is rare
# and cheap to find, the user name and domain are then matched only around it.
_AT_ANCHOR = re.compile(
    r"[(\[{<][ \t]*(?:at|@)[ \t]*[)\]}>]"  # (at) [at] {at} <at> [@]
    r"|(?<=[ \t])at(?=[ \t])"  # " at "
    r"|@",  # "@" with space on at least one side
    re.IGNORECASE,
)
_LOCAL_BEFORE = re.compile(r"(?<![\w.+\-\]])(?:(?:\w[ ]){2,}\w|\w[\w.+\-]*\w|\w)\Z")
_DOT = (
    r"(?:\s*[(\[{<]\s*(?:dot|\.)\s*[)\]}>]\s*"  # (dot) [dot] [.]
    r"|[ \t]+dot[ \t]+"  # " dot "
    r"|[ \t]\.[ \t]|\.)"  # " . " or "."
)
_DOMAIN_AFTER = re.compile(
    r"(?:"
    rf"[\w\-]+(?:{_DOT}[\w\-]+)*?{_DOT}(?:{_TLD_ALT})"
    rf"|(?:{_MAIL_PROVIDERS})"
    r")(?![\w\-\[])(?!\.[\w\[])",
    re.IGNORECASE,
)
_PLAIN_DOTTED = re.compile(r"[\w\-]+(?:\.[\w\-]+)+")

# ---------------------------------------------------------------------------------- links

_URL_TRAILING = ".,;:!?'\"»”’>"
_URL_SCHEME = re.compile(r"(?i)(?<![\w\]])(?:https?|ftps?)://[^\s<>\"\[\]\x00]+")
_URL_WWW = re.compile(
    r"(?i)(?<![\w.\-@\]])www\d{0,3}\.[\w\-]+(?:\.[\w\-]+)*(?:[/?#][^\s<>\"\[\]\x00]*)?"
)
_URL_BARE = re.compile(
    r"(?<![\w.\-@/\]])"
    r"(?P<labels>(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+)"
    rf"(?P<tld>{_TLD_ALT})"
    r"(?![\w\-\[])(?!\.[A-Za-z0-9\[])"
    r"(?P<path>[/?#][^\s<>\"\[\]\x00]*)?"
)
# "example[dot]com", "example (.) com"
_URL_BRACKETED = re.compile(
    r"(?<![\w.\-@/\]])[A-Za-z0-9][A-Za-z0-9\-]*"
    r"(?:\s*[(\[{]\s*(?:dot|\.)\s*[)\]}]\s*[A-Za-z0-9][A-Za-z0-9\-]*)*"
    rf"\s*[(\[{{]\s*(?:dot|\.)\s*[)\]}}]\s*(?:{_TLD_ALT})(?![\w\-\[])",
    re.IGNORECASE,
)

_TLD_HINT = re.compile(rf"\.(?:{_TLD_ALT})(?![\w\-])")
_BRACKETED_DOT = re.compile(r"[(\[{]\s*(?:dot|\.)\s*[)\]}]", re.IGNORECASE)

# -------------------------------------------------------------------------------- handles

_HANDLE = re.compile(r"(?<![\w@.+\-/\]])@[^\W\d][\w.]{0,29}(?<!\.)(?![\w@\[])")

# --------------------------------------------------------------------------------- phones

# Spans that look like numbers but are not phone numbers; masked before phone scanning.
_CURRENCY_WORD = (
    r"(?i:EUR|USD|GBP|CHF|SEK|PLN|INR|BRL|JPY|AUD|euros?|dollars?|pounds?|bucks|francs?"
    r"|rupees?|reais|yen)"
)
_NOT_PHONE = re.compile(
    r"(?=\d)(?<![\d.\-/\]])(?:"
    # dates: 20.12.2026, 20/12/26, 2026-12-20, 2026/12/20
    r"(?:0?[1-9]|[12]\d|3[01])(?P<s1>[./\-])(?:0?[1-9]|1[0-2])(?P=s1)(?:19|20)?\d\d"
    r"|(?:19|20)\d\d(?P<s2>[./\-])(?:0?[1-9]|1[0-2])(?P=s2)(?:0?[1-9]|[12]\d|3[01])"
    # times: 10:30, 10:30:15
    r"|\d{1,2}:\d\d(?::\d\d)?"
    # year ranges: 2019-2023, 2019/20, 1998 - 2004
    r"|(?:19|20)\d\d\s?[\-\u2013/]\s?(?:(?:19|20)\d\d|\d\d)"
    r")(?![\d]|[.\-/]\d)"
    # money: 1800 EUR, 2.000,- EUR, 1 800 euros, 25k
    r"|(?=\d)(?<![\d.,\]])(?:\d{1,3}(?:[.,'\u00a0\u202f ]\d{3})+|\d+)(?:[.,]\d{1,2}|,-)?\s?"
    rf"(?:[€$£¥]|(?:{_CURRENCY_WORD}|[kK])\b)"
)
_NOT_PHONE_PREFIXED = re.compile(
    # money: €1.650, $ 1,800.00, EUR 1800
    rf"(?:[€$£¥]|\b{_CURRENCY_WORD}\b)\s?\d[\d.,'\u00a0\u202f]*"
    # bank account numbers: DE89 3704 0044 0532 0130 00
    r"|\b[A-Za-z]{2}\d\d(?:[ ]?[A-Za-z0-9]{4}){3,7}(?:[ ]?[A-Za-z0-9]{1,3})?\b"
)

_PHONE_CANDIDATE = re.compile(
    r"(?<![\w,+\]])(?<![\d\]]\.)"
    r"(?:\+\s?|\(\s?\+?)?\d"
    r"(?:\d|[ \t\u00a0./()\-\u2010-\u2013]{1,3}(?=[\d(]))*+"
)
_YEAR = re.compile(r"(?:19|20)\d\d")
_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:[.,]\d{3})+")
_RANGE = re.compile(r"[1-9]\d{2,5}\s?[\-\u2013]\s?[1-9]\d{2,5}")
_UNIT_AFTER = re.compile(
    r"\s?(?:[%x×\"″']|(?:mm|cm|m|km|kg|g|mg|l|ml|gb|tb|mb|mah|wh|kwh|w|kw|v|hz|mhz|ghz|px|dpi"
    r"|iso|rpm|ps|hp|pcs|stk|units?|pieces?|items?|km/h|mph)\b)",
    re.IGNORECASE,
)
_CODE_AFTER = re.compile(r"\s?[A-Z]{3}\b")  # "123 456 789 VND"
_ID_CONTEXT = re.compile(
    r"(?:\b(?:no|nr|art|article|artikel|order|bestellung|id|sku|ref|iban|isbn|ean|gtin|upc"
    r"|serial|s/n|sn|model|modell|part|lot|invoice|rechnung|ticket|tracking|imei|plz|zip"
    r"|postcodes?|kundennummer|customer)\b|#)\W*$",
    re.IGNORECASE,
)
_PHONE_CUE = re.compile(
    r"tel|phone|fon|mobil|handy|cell|call|whats|ruf|mob\b|natel|ph\b|sms|text", re.IGNORECASE
)
_STRONG_START = re.compile(r"\(?\s?(?:\+|0)")
_NON_DIGITS = re.compile(r"\D+")
_SPLIT_TOKENS = re.compile(r"\S+")
_NON_DIGIT = re.compile(r"\D")
_DIGIT = re.compile(r"\d")

# Regions tried for national numbers.  Numbers written with a leading trunk "0" are judged
# against regions that use one; numbers without it against regions whose numbers are
# normally written without one (US, ES, IT, PL...) and the common "0"-less spellings of
# Indian and Brazilian mobiles.
_TRUNK_ZERO_REGIONS = (
    "DE",
    "GB",
    "FR",
    "NL",
    "AT",
    "CH",
    "BE",
    "IT",
    "AU",
    "JP",
    "IN",
    "BR",
    "SE",
    "IE",
)
_NO_TRUNK_REGIONS = ("US", "ES", "IT", "PL", "IN", "BR", "MX", "PT")
_MAX_TOKENS_PER_SUBSPAN = 6


class _Regions(NamedTuple):
    trunk_zero: tuple[str, ...]  # for numbers written with a leading trunk "0"
    no_trunk: tuple[str, ...]  # for numbers written without one
    hint_without_trunk: bool  # the hint region writes national numbers without a "0"


def _regions_for(region: str | None) -> _Regions:
    hint = (region or "").strip().upper()
    metadata = PhoneMetadata.metadata_for_region(hint) if len(hint) == 2 else None
    if metadata is None:
        return _Regions(_TRUNK_ZERO_REGIONS, _NO_TRUNK_REGIONS, False)
    if metadata.national_prefix == "0":
        trunk = (hint, *(r for r in _TRUNK_ZERO_REGIONS if r != hint))
        return _Regions(trunk, _NO_TRUNK_REGIONS, False)
    no_trunk = (hint, *(r for r in _NO_TRUNK_REGIONS if r != hint))
    return _Regions(_TRUNK_ZERO_REGIONS, no_trunk, True)


def _valid_in(number: str, regions: Iterable[str]) -> bool:
    for region in regions:
        try:
            parsed = phonenumbers.parse(number, region)
        except NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return True
    return False


def _international_ok(number: str) -> bool:
    try:
        parsed = phonenumbers.parse(number, None)
    except NumberParseException:
        return False
    if phonenumbers.is_valid_number(parsed):
        return True
    return phonenumbers.is_possible_number(parsed) and len(str(parsed.national_number)) >= 7


def _looks_like_phone(candidate: str, before: str, after: str, regions: _Regions) -> bool:
    """Judge one digit run; ``before``/``after`` are a few characters of context."""
    # Context never reaches into an earlier finding (masked now, a marker on a second pass).
    before = before[before.rfind("]") + 1 :]
    after = after.split("[", 1)[0]
    digits = _NON_DIGIT.sub("", candidate)
    n = len(digits)
    if n < 7 or n > 17:
        return False
    stripped = candidate.lstrip("( \t")
    if stripped.startswith("+"):
        return n <= 15 and _international_ok("+" + digits)
    if digits.startswith("00") and not candidate.startswith("("):
        return 9 <= n <= 17 and _international_ok("+" + digits[2:])
    # National spellings: keep years, thousands, ranges, identifiers and measured values out.
    if n > 13 or _followed_by_unit(after):
        return False
    groups = [g for g in _NON_DIGITS.split(candidate) if g]
    if all(len(g) == 4 and _YEAR.fullmatch(g) for g in groups):
        return False
    if _THOUSANDS.fullmatch(candidate) or _RANGE.fullmatch(candidate):
        return False
    if _ID_CONTEXT.search(before) and not _PHONE_CUE.search(before):
        return False  # "Article no. 123456789", "Serial 0123456789"
    if digits[0] == "0":
        if n >= 10:
            return True
        return n >= 8 and _valid_in(candidate, regions.trunk_zero)
    # Without a trunk "0" the number is read as US/ES/IT/PL/IN/BR/MX style; those are written
    # in at most four groups ("1 415 555 0172"), never as lists of short numbers.
    if len(groups) > 4 or any(len(g) <= 2 for g in groups[1:]):
        return False
    if n >= 9:
        return _valid_in(candidate, regions.no_trunk)
    return regions.hint_without_trunk and n == 8 and _valid_in(candidate, regions.no_trunk[:1])


def _followed_by_unit(after: str) -> bool:
    return bool(_UNIT_AFTER.match(after) or _CODE_AFTER.match(after))


def _digit_count(text: str) -> int:
    return len(_DIGIT.findall(text))


def _phone_spans(work: str, region: str | None) -> list[tuple[int, int]]:
    """Phone numbers in ``work``; dates, times, year ranges and money are never phones."""
    candidates = [
        m.span()
        for m in _PHONE_CANDIDATE.finditer(work)
        if m.end() - m.start() >= 7 and _digit_count(m.group()) >= 7
    ]
    if not candidates:
        return []
    regions = _regions_for(region)
    # Mask non-phone numbers, looking only around the candidates (the mask pattern is the
    # most expensive one; running it over all text would dominate the cost of a call).
    view = work
    for s, e in candidates:
        window_end = min(len(work), e + 16)
        for pattern in (_NOT_PHONE, _NOT_PHONE_PREFIXED):
            for m in pattern.finditer(work, max(0, s - 8), window_end):
                # A match touching the window end may exist only because the text is cut there.
                if m.end() + 2 <= window_end or window_end == len(work):
                    view = _mask(view, *m.span())
    spans: list[tuple[int, int]] = []
    for c_start, c_end in candidates:
        for m in _PHONE_CANDIDATE.finditer(view, c_start, c_end):
            spans.extend(_judge_candidate(view, m.start(), m.end(), regions))
    return spans


def _judge_candidate(view: str, start: int, end: int, regions: _Regions) -> list[tuple[int, int]]:
    cand = view[start:end]
    # Drop trailing separators, and a ")" that closes nothing: "(415) 555-0172" keeps its
    # parentheses, "call 0151 2345678)" loses the bracket.
    while (
        cand
        and not cand[-1].isdigit()
        and not (cand[-1] == ")" and cand.count("(") >= cand.count(")"))
    ):
        cand = cand[:-1]
        end -= 1
    if _digit_count(cand) < 7:
        return []
    before = view[max(0, start - 24) : start]
    after = view[end : end + 12]
    if _looks_like_phone(cand, before, after, regions):
        return [(start, end)]
    if _followed_by_unit(after.split("[", 1)[0]):
        return []  # a list of measurements or prices: "250 500 750 1000 g"
    # Fall back to runs of space-separated groups that start like a phone number (with "+",
    # "00" or a trunk "0"): "Budget 1800 0151 23456789".
    tokens = [(t.start(), t.end()) for t in _SPLIT_TOKENS.finditer(cand)]
    if len(tokens) < 2:
        return []
    options: list[tuple[int, int, int]] = []
    for i in range(len(tokens)):
        if not _STRONG_START.match(cand, tokens[i][0]):
            continue
        for j in range(i, min(len(tokens), i + _MAX_TOKENS_PER_SUBSPAN)):
            if i == 0 and j == len(tokens) - 1:
                continue
            s, e = tokens[i][0], tokens[j][1]
            digit_count = _digit_count(cand[s:e])
            if 7 <= digit_count <= 15:
                options.append((-digit_count, s, e))
    options.sort()
    taken: list[tuple[int, int]] = []
    for _neg, s, e in options:
        if any(s < te and ts < e for ts, te in taken):
            continue
        sub = cand[s:e]
        sub_before = view[max(0, start + s - 24) : start + s]
        sub_after = view[start + e : start + e + 12]
        if _looks_like_phone(sub, sub_before, sub_after, regions):
            taken.append((s, e))
    if not taken:
        return []
    # What is left between the numbers taken is judged on its own, as it will be when the
    # scrubbed text is scrubbed again (scrubbing must be idempotent).
    taken.sort()
    found = [(start + s, start + e) for s, e in taken]
    gaps = zip([0] + [e for _s, e in taken], [s for s, _e in taken] + [len(cand)], strict=True)
    for gap_start, gap_end in gaps:
        if _digit_count(cand[gap_start:gap_end]) >= 7:
            for m in _PHONE_CANDIDATE.finditer(view, start + gap_start, start + gap_end):
                found.extend(_judge_candidate(view, m.start(), m.end(), regions))
    return sorted(found)


# ------------------------------------------------------------------------------- plumbing


def _trim_url(text: str, start: int, end: int) -> int:
    while end > start:
        ch = text[end - 1]
        if ch in _URL_TRAILING:
            end -= 1
        elif ch == ")" and text.count("(", start, end) < text.count(")", start, end):
            end -= 1
        elif ch == "]" and text.count("[", start, end) < text.count("]", start, end):
            end -= 1
        else:
            break
    return end


def _mask(work: str, start: int, end: int) -> str:
    return work[:start] + _MASK * (end - start) + work[end:]


def _mask_as_marker(work: str, start: int, end: int) -> str:
    """Mask a finding so later detectors see it bounded like its marker ("[...]").

    Scrubbing scrubbed text must find nothing new, so the context a finding leaves for its
    neighbours has to look the same in both passes.
    """
    inner = max(0, end - start - 2)
    return work[:start] + "[" + _MASK * inner + "]"[: end - start - 1] + work[end:]


def _find_emails(work: str) -> list[tuple[int, int]]:
    spans = [m.span() for m in _EMAIL_PLAIN.finditer(work)] if "@" in work else []
    for s, e in spans:
        work = _mask_as_marker(work, s, e)
    for anchor in list(_AT_ANCHOR.finditer(work)):
        a_start, a_end = anchor.span()
        if work[a_start] == "[" and work[a_end - 1] == "]" and _MASK in anchor.group():
            continue
        while a_start > 0 and work[a_start - 1] in " \t":
            a_start -= 1
        while a_end < len(work) and work[a_end] in " \t":
            a_end += 1
        if anchor.group() == "@" and (a_start, a_end) == anchor.span():
            continue  # "name@host" without a top-level domain, or a handle
        local = _LOCAL_BEFORE.search(work, max(0, a_start - 64), a_start)
        if local is None:
            continue
        domain = _DOMAIN_AFTER.match(work, a_end)
        if domain is None:
            continue
        if anchor.group().strip().lower() == "at":
            # Prose such as "available at shop.example.de" or "my list at example.com/x".
            if local.group().lower() in _PROSE_WORDS:
                continue
            if _PLAIN_DOTTED.fullmatch(domain.group()) and work.startswith("/", domain.end()):
                continue
        s, e = local.start(), domain.end()
        spans.append((s, e))
        work = _mask_as_marker(work, s, e)
    return spans


def _find_urls(work: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    lowered = work.lower()
    for needle, pattern in (("://", _URL_SCHEME), ("www", _URL_WWW)):
        if needle not in lowered:
            continue
        for m in list(pattern.finditer(work)):
            s, e = m.span()
            e = _trim_url(work, s, e)
            spans.append((s, e))
            work = _mask_as_marker(work, s, e)
    # A rejected match must not hide a later one inside it, so search on from its start.
    pos = 0
    while _TLD_HINT.search(work, pos) and (m := _URL_BARE.search(work, pos)):
        s, e = m.span()
        labels = m.group("labels")
        if not any(c.isalpha() for c in labels) or (
            m.group("tld") in _WEAK_TLD_SET and not m.group("path") and labels.count(".") < 2
        ):
            pos = s + 1  # "1.2.com", "condition.it", "fine.to"
            continue
        e = _trim_url(work, s, e)
        spans.append((s, e))
        work = _mask_as_marker(work, s, e)
        pos = e
    pos = 0
    while _BRACKETED_DOT.search(work, pos) and (m := _URL_BRACKETED.search(work, pos)):
        s, e = m.span()
        spans.append((s, e))
        work = _mask_as_marker(work, s, e)
        pos = e
    return spans


def scrub(text: str, *, region: str | None = None, field: str = "") -> ScrubResult:
    """Replace e-mail addresses, phone numbers, links and handles in ``text`` by markers.

    ``region`` is the buyer's ISO 3166 alpha-2 country, used first when judging national
    phone spellings; numbers in the national formats of other common countries are caught
    too.  ``field`` is copied onto each :class:`Redaction` (e.g. ``"title"``).
    """
    if not text:
        return ScrubResult(text=text, redactions=())
    work = text.replace(_MASK, " ")
    found: list[tuple[int, int, str]] = []

    def take(spans: Iterable[tuple[int, int]], kind: str) -> None:
        nonlocal work
        for s, e in spans:
            if e <= s:
                continue
            found.append((s, e, kind))
            work = _mask_as_marker(work, s, e)

    take(_find_emails(work), "email")
    take(_find_urls(work), "url")
    if "@" in work:
        take((m.span() for m in _HANDLE.finditer(work)), "handle")
    take(_phone_spans(work, region), "phone")

    if not found:
        return ScrubResult(text=text, redactions=())
    found.sort()
    parts: list[str] = []
    redactions: list[Redaction] = []
    pos = 0
    for s, e, kind in found:
        parts.append(text[pos:s])
        parts.append(MARKERS[kind])
        redactions.append(Redaction(kind=kind, start=s, end=e, field=field))
        pos = e
    parts.append(text[pos:])
    return ScrubResult(text="".join(parts), redactions=tuple(redactions))
