"""``intentcast demo``'s marketplace: ``bot`` is a vendor bot written against the client library
alone (``examples/vendor_bot.py`` runs one from the command line); ``seed`` holds the demo's
vendors, buyers and sample intents; ``run`` seeds a server, runs the bots, publishes the
intents and shows what arrives."""
