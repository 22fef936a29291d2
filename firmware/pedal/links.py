"""How the pedal's control side reaches the engine and the librarian.

Each has two links with the same methods: one to a separate process (what `tubeless run`
uses: nothing the control side does can make the audio wait, and no file can take the
pedal's memory) and one to an object in this process (`simulate`, the tests: the control
side runs on the audio's clock, between blocks, deterministically).

    engine link:    send(msg), events() -> [msg], shared (SharedBlock), alive()
    librarian link: events() -> [msg], supervise(); the library's pages come out put together,
                    one {"ev": "library"} per whole generation (firmware.ipc.messages)
"""
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time

from firmware.ipc import messages
from firmware.ipc.lines import LineReader
from firmware.ipc.shared import SharedBlock

log = logging.getLogger(__name__)
LIBRARY_PAGES = ("library_begin", "library_page", "library_end")   # put together before the pedal sees them


def _reader(stream, sink, name):
    """Lines from a child's stdout -> sink(msg); sink(None) at EOF. A line over the message
    limit is dropped unread (firmware.ipc.lines), so no child can make this side hold more."""
    reader = LineReader()
    while chunk := stream.read1(65536):
        for msg in reader.feed(chunk):
            if isinstance(msg, messages.MessageError):
                log.warning("%s: unreadable message: %s", name, msg)
            else:
                sink(msg)
    sink(None)


class EngineProcess:
    """The engine in its own process (`python -m firmware.engine`)."""

    def __init__(self, cfg, start_timeout=600.0):
        self.shared = SharedBlock.create_file()
        self._events = queue.SimpleQueue()
        self._dead = threading.Event()
        settings = json.dumps(cfg)
        self.proc = subprocess.Popen([sys.executable, "-m", "firmware.engine", "--settings", settings,
                                      "--shared", self.shared.path], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._lock = threading.Lock()
        ready = threading.Event()
        first = []

        def sink(msg):
            if msg is None:
                self._dead.set()
                ready.set()
                return
            if not ready.is_set() and msg.get("ev") in ("ready", "stopped"):
                first.append(msg)
                ready.set()
                return
            self._events.put(msg)

        threading.Thread(target=_reader, args=(self.proc.stdout, sink, "engine"), name="tubeless-engine-events",
                         daemon=True).start()
        ready.wait(start_timeout)
        if not first or first[0].get("ev") != "ready":
            err = first[0].get("error") if first else "the engine did not start"
            self.close()
            raise RuntimeError(err)

    def send(self, msg):
        if self._dead.is_set():
            return
        try:
            with self._lock:
                self.proc.stdin.write(messages.encode(msg))
                self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._dead.set()

    def events(self):
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def alive(self):
        return not self._dead.is_set() and self.proc.poll() is None

    def close(self, timeout=3.0):
        self.send({"op": "quit"})
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.shared.unlink()


class LocalEngine:
    """The engine in this process: commands run at once, events queue up for the next tick."""

    def __init__(self, engine):
        self.engine = engine
        self.shared = engine.shared
        self._events = []
        engine.emit = self._events.append

    def send(self, msg):
        self.engine.handle(msg)

    def events(self):
        self.engine.sync()              # what the engine's command thread does in its process
        out, self._events[:] = list(self._events), []
        return out

    def alive(self):
        return not self.engine._stop.is_set()


class LibrarianProcess:
    """The librarian in its own process, with a memory limit and a time limit per file;
    restarted when it dies or hangs, and the file it was working on is skipped."""

    def __init__(self, cfg, cache_dir, command=None):
        m = cfg["models"]
        command = command or [sys.executable, "-m", "firmware.librarian"]
        self.args = [*command, "--models", m["directory"], "--cache", os.fspath(cache_dir),
                     "--rate", str(cfg["audio"]["rate"]), "--poll", str(m["poll_s"]), "--ir", m.get("ir") or "",
                     "--ir-max-ms", str(m.get("ir_max_ms", 500)), "--memory-mb", str(m.get("convert_memory_mb", 0)),
                     "--submodel", str(m.get("submodel", -1))]
        self.timeout_s = float(m.get("convert_timeout_s", 60.0))
        self._events = queue.SimpleQueue()
        self.skipped = []                 # (path, stamp) that crashed or hung a librarian
        self.working = None               # (path, stamp, since)
        self.restarts = 0
        self._next_start = 0.0
        self.proc = None
        self._pages = messages.LibraryAssembler()
        self._start()

    def _start(self):
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     start_new_session=True)
        proc = self.proc
        for path, stamp in self.skipped:
            self._send({"op": "skip", "path": path, "stamp": stamp})

        def sink(msg):
            if msg is None:
                self._events.put({"ev": "_exit", "proc": proc})
            else:
                self._events.put(msg)

        threading.Thread(target=_reader, args=(proc.stdout, sink, "librarian"), name="tubeless-librarian-events",
                         daemon=True).start()

    def _send(self, msg):
        try:
            self.proc.stdin.write(messages.encode(msg))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def events(self):
        out = []
        while True:
            try:
                msg = self._events.get_nowait()
            except queue.Empty:
                return out
            ev = msg.get("ev")
            if ev == "working":
                self.working = (msg.get("path"), msg.get("stamp"), time.monotonic())
            elif ev in ("library_end", "rejected", "scan_failed"):
                self.working = None
            if ev == "_exit":
                if msg["proc"] is self.proc:
                    self._died()
                continue
            if ev in LIBRARY_PAGES:
                msg = self._pages.feed(msg)
                if msg is None:
                    continue
            out.append(msg)

    def _died(self):
        code = self.proc.wait()
        if self.working is not None:
            path, stamp, _ = self.working
            why = "took too long" if code == -signal.SIGKILL else f"crashed the converter (exit {code}; out of memory?)"
            log.warning("model skipped: %s: %s", os.path.basename(path), why)
            self.skipped.append((path, stamp))
            self.working = None
        else:
            log.warning("the librarian stopped (exit %s): restarting it", code)
        self.restarts += 1
        self._next_start = time.monotonic() + min(10.0, 0.5 * self.restarts)
        self.proc = None

    def supervise(self):
        """Called from the control loop: enforce the time limit, restart a dead librarian."""
        if self.proc is None:
            if time.monotonic() >= self._next_start:
                self._start()
            return
        if self.working is not None and time.monotonic() - self.working[2] > self.timeout_s:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass

    def close(self):
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class LocalLibrarian:
    """The librarian in this process, scanning when `poll(now)` says poll_s has passed."""

    def __init__(self, librarian, poll_s=None):
        self.librarian = librarian
        self.poll_s = librarian.library.poll_s if poll_s is None else poll_s
        self._events = []
        librarian.emit = self._events.append
        self._pages = messages.LibraryAssembler()
        self._last = None

    def poll(self, now):
        if self._last is None:                 # the first look takes what is there
            self._last = now
            self.librarian.look(settle=False)
        elif now - self._last >= self.poll_s:
            self._last = now
            self.librarian.look()

    def events(self):
        """The librarian's events as the process link gives them: the library's pages put
        together (one "library" per whole generation), "rejected", "scan_failed"."""
        out = []
        for msg in self._events:
            if msg.get("ev") in LIBRARY_PAGES:
                msg = self._pages.feed(msg)
            if msg is not None and msg.get("ev") in ("library", "rejected", "scan_failed"):
                out.append(msg)
        self._events[:] = []
        return out

    def supervise(self):
        pass
