"""Messages from a pipe, one JSON line each: the engine and the librarian read their stdin
with this, so both treat a bad or over-long line the same way."""
from firmware.core.errors import MessageError
from firmware.ipc import messages


class LineReader:
    """Bytes in (any chunking), messages out. A line longer than `max_line` is dropped whole
    (it is never parsed from its middle), and reported once as a MessageError."""

    def __init__(self, max_line=messages.MAX_LINE):
        self.max_line = max_line
        self.buf = b""
        self.discarding = False      # inside an over-long line: drop up to its newline

    def feed(self, chunk):
        """The messages completed by `chunk`, in order: a dict for each good line, a
        MessageError for each bad or over-long one."""
        out = []
        self.buf += chunk
        while True:
            line, sep, rest = self.buf.partition(b"\n")
            if not sep:
                break
            self.buf = rest
            if self.discarding:
                self.discarding = False
                continue
            try:
                out.append(messages.decode(line))
            except MessageError as e:
                out.append(e)
        if len(self.buf) > self.max_line:
            if not self.discarding:
                out.append(MessageError(f"message over the {self.max_line}-byte limit"))
            self.buf, self.discarding = b"", True
        return out
