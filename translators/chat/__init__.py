"""OpenAI Chat Completions, the hub: its wire types, the fields several translators read,
model lists, and the passthrough of a Chat stream. Chat clients and Chat providers need no
translation of their own; every other format is translated to and from these shapes."""
