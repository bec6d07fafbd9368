"""The buyer's own AI assistant over the Model Context Protocol (``intentcast mcp``).

``tools`` owns the tools an assistant may call, each with its arguments as a msgspec Struct
built from the server's own Structs (``IntentDraft``, ``PersonaField``...), whose JSON schema
is the tool's input schema; ``server`` serves them with the official ``mcp`` SDK over stdio
or streamable HTTP. Everything reaches the intentcast server through ``intentcast.client``
with the buyer's token. Reveals and acceptances are only *proposed*: the tools answer a link
to the buyer's web page, where the human confirms; an agent never discloses its owner's
identity by itself.
"""
