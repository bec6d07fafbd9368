"""Use cases: the steps of every change, between HTTP (``api/``) or workers and the data.

Each service function takes its dependencies explicitly (a connection or unit of work,
keys, settings, ``now``), holds the steps of one change, and raises only domain errors
(``intentcast.domain.errors``). Nothing here knows HTTP: controllers parse, authorize, call
one service and shape the response; workers call the same functions.
"""
