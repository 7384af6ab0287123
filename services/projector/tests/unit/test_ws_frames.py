"""The frame header a connection writes before each message: RFC 6455's own examples (section
5.7) and the edges between its three length encodings."""

from __future__ import annotations

import pytest
from projector.read.ws.connection import text_frame_header


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (5, b"\x81\x05"),  # "A single-frame unmasked text message" ("Hello")
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (256, b"\x81\x7e\x01\x00"),  # the 256-byte example, as a text frame
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),  # the 64 KiB example
        (256 * 1024, b"\x81\x7f\x00\x00\x00\x00\x00\x04\x00\x00"),
    ],
)
def test_a_final_unmasked_text_frame_carries_its_length_in_the_shortest_form(
    length: int, header: bytes
) -> None:
    assert text_frame_header(length) == header
