"""The matcher's in-memory accelerator for the match predicate.

`intentcast.domain.matching.matches` is the one definition of a match; `SubscriptionIndex`
(in ``intentcast.matching.index``) finds exactly the active subscriptions it accepts for an
intent without scanning them all.
"""
