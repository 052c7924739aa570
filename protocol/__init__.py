"""lrctl.protocol: what the SDK and the server both need of the wire, in one place.

Dtype and reply-mode codes (codes.py), float32 <-> wire bytes and the bfloat16 rounding
(wire.py, bfloat16.py), the Chunk a tensor travels in (chunks.py) and the hand-written
framing of chunk-carrying messages (chunk_messages.py). The client SDK (package lrctl) and
the server (lrctl.server) import this package and the generated stubs (lrctl.v1); neither
imports the other.
"""
