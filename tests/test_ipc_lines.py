"""The line reader of the engine's and the librarian's pipes."""
import json

from firmware.core.errors import MessageError
from firmware.ipc.lines import LineReader


def test_messages_come_out_whole_whatever_the_chunking():
    data = b"".join(json.dumps({"op": "scan", "i": i}).encode() + b"\n" for i in range(50))
    reader = LineReader()
    got = []
    for k in range(0, len(data), 7):
        got += reader.feed(data[k:k + 7])
    assert [m["i"] for m in got] == list(range(50))


def test_an_overlong_line_is_dropped_whole_and_reported_once():
    reader = LineReader(max_line=100)
    # the tail of the long line is itself valid JSON: it must not be taken for a message
    long_line = b'{"pad": "' + b"x" * 300 + b'"}' + b'{"op": "quit"}'
    out = []
    for k in range(0, len(long_line), 64):
        out += reader.feed(long_line[k:k + 64])
    out += reader.feed(b'\n{"op": "scan"}\n')
    errors = [m for m in out if isinstance(m, MessageError)]
    assert len(errors) == 1 and "100-byte limit" in str(errors[0])
    assert [m for m in out if isinstance(m, dict)] == [{"op": "scan"}]


def test_a_bad_line_is_an_error_and_the_next_one_reads():
    out = LineReader().feed(b"not json\n[1, 2]\n{\"op\": \"start\"}\n")
    assert [type(m) for m in out] == [MessageError, MessageError, dict]
