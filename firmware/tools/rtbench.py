"""`tubeless bench --realtime`: the real `tubeless run` on a paced device, in phases.

The pedal runs as on a Pi, in its own processes with its own config, on a JACK dummy
server (paced by a timer) through alsa-lib's jack plugin, period 64, 2 periods. Each phase
does what a player does (stomp through the models, copy new ones in) while CPU-bound
processes stand in for a busy Pi, and reports the xruns and the audio thread's lateness:
how far behind the device the block started (the frames it had already delivered beyond
the block's period, read per block from the engine's shared block: firmware.ipc.shared),
every block counted. The JACK dummy device delivers whole periods, so lateness shows in
whole periods: 0 means every block started before the next period arrived.

Needs jackd and ALSA's jack plugin (apt-get install jackd2 libasound2-plugins). Models:
../shared/corpus (real NAM, GuitarML, AIDA-X files) when present, else generated ones.
"""
import bisect
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from firmware.core.errors import BenchError
from firmware.testing.corpus import corpus_dir


def jack_alsa_conf(pcm):
    """An alsa-lib config defining PCM `pcm`: a plug over JACK's system ports (the dummy
    server's), as the pedal opens a sound card."""
    return (f"pcm.{pcm}_raw {{\n    type jack\n"
            f"    playback_ports {{ 0 system:playback_1 1 system:playback_2 }}\n"
            f"    capture_ports {{ 0 system:capture_1 1 system:capture_2 }}\n}}\n"
            f'pcm.{pcm} {{ type plug slave.pcm "{pcm}_raw" }}\n')


PHASES = {
    0: "the device alone: a bare read/write loop at the audio thread's priority, no pedal",
    1: "playing an A1 standard WaveNet, nothing else",
    2: "`next` every 0.5 s through the control channel",
    3: "a new 400-700 KB .nam copied in every second",
    4: "phases 2 and 3 at once, two CPU-bound processes beside the pedal",
    5: "phase 4 with the whole pedal pinned to one core shared with a CPU-bound process",
    7: "a MIDI storm: 400 CC a second (pedal sweeps) through the MIDI mapping, by the control channel",
    6: "the web page open (live status) and a .nam uploaded through it every second",
    8: "the whole rig on (boost, tone stack, delay, reverb) with every parameter swept and every block "
       "switched through the control channel",
    9: "20 presets (mixed models, IRs, effects) stomped through every 0.3 s by the control channel",
    10: "an outsider on the network: 800 idle connections, wrong passwords from 20 addresses, zip floods, "
        "beside the player's page",
    11: "a recording of what is played running (the DI and the output written to the disk, synced every second)",
    12: "a capture through the playing pedal: the engine plays the capture signal instead of its sound, the "
        "control process sends it a second ahead and copies and checks the return",
}


def host_steal_ms():
    """CPU time the host took from this (virtual) machine since boot, all CPUs, in ms: the
    "steal" of /proc/stat. A KVM guest's audio thread cannot run while its vCPU is stolen, so
    a phase's xruns beside its steal say whether the host, not the pedal, held it up. 0
    where the kernel does not count it (bare metal, a Pi)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) * 1000.0 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class _Poller:
    """A daemon thread that calls poll() at start(), every `every_s` seconds, and at stop()."""

    def __init__(self, every_s):
        self.every_s = every_s
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.every_s):
            self.poll()

    def poll(self):
        raise NotImplementedError

    def start(self):
        self.poll()
        self.thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join()
        self.poll()
        return self


class StealWatch(_Poller):
    """The host's steal, sampled every 50 ms through a phase, to say of each xrun whether the
    host had taken CPU time just before it. Steal comes in clock ticks (10 ms), so a window
    "with steal" is one in which the host took at least one tick from the machine. The share
    of the phase's windows with steal is reported beside it: an xrun count "beside steal"
    means something only where that share is small."""

    WINDOW_S = 0.25          # an xrun is timed to 0.1 s; the buffer it ran out of is 2.7 ms
    THRESHOLD_MS = 10.0

    def __init__(self, read=None, every_s=0.05):
        super().__init__(every_s)
        self.read = read or host_steal_ms
        self.samples = []                        # (time.monotonic(), cumulative steal ms)

    def poll(self):
        self.samples.append((time.monotonic(), self.read()))

    def total_ms(self):
        """Steal over the whole watch, first sample to last."""
        return self.samples[-1][1] - self.samples[0][1] if self.samples else 0.0

    def stolen(self, t0, t1):
        """Steal (ms) between the samples around t0 and t1."""
        times = [t for t, _ in self.samples]
        if not times:
            return 0.0
        i = max(0, bisect.bisect_right(times, t0) - 1)
        j = min(len(times) - 1, bisect.bisect_left(times, t1))
        return self.samples[j][1] - self.samples[i][1]

    def beside(self, xrun_times):
        """(xruns with steal in the WINDOW_S before them, share of the phase's windows with steal)."""
        w, k = self.WINDOW_S, self.THRESHOLD_MS
        hit = sum(1 for t in xrun_times if self.stolen(t - w, t) >= k)
        if len(self.samples) < 2:
            return hit, 0.0
        start, end = self.samples[0][0], self.samples[-1][0]
        edges = np.arange(start, end - w / 2, w)
        windows = [self.stolen(a, a + w) >= k for a in edges]
        return hit, (sum(windows) / len(windows) if windows else 0.0)


def bare_loop(device, seconds, period=64, periods=2, priority=70):
    """Phase 0: what the machine and the device do by themselves. A minimal pyalsaaudio
    read/write loop at the audio thread's priority, the same lateness and xrun counting;
    prints one JSON line. Whatever xruns it sees are not the pedal's."""
    import alsaaudio
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError:
        pass
    kw = dict(device=device, rate=48000, channels=2, format=alsaaudio.PCM_FORMAT_S32_LE, periodsize=period,
              periods=periods)
    cap = alsaaudio.PCM(type=alsaaudio.PCM_CAPTURE, **kw)
    play = alsaaudio.PCM(type=alsaaudio.PCM_PLAYBACK, **kw)
    silence = bytes(period * 2 * 4)
    for _ in range(periods):
        play.write(silence)
    xruns, late, cpu, xrun_times = 0, [], [], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        n, data = cap.read()
        t0 = time.perf_counter_ns()
        waiting = cap.avail()
        if n <= 0:
            xruns += 1
            xrun_times.append(time.monotonic())
            data, waiting = silence, period * periods
        late.append(max(0, waiting))
        cpu.append(time.perf_counter_ns() - t0)
        if play.write(data) < 0:
            xruns += 1
            xrun_times.append(time.monotonic())
            for _ in range(periods):
                play.write(silence)
    print(json.dumps({"xruns": xruns, "late": late, "cpu": cpu, "xrun_times": xrun_times}))


def jack_available():
    plugin = any(os.path.exists(f"/usr/lib/{a}/alsa-lib/libasound_module_pcm_jack.so")
                 for a in ("x86_64-linux-gnu", "aarch64-linux-gnu", "arm-linux-gnueabihf"))
    return bool(shutil.which("jackd")) and plugin


def wait_for_jack(server, proc, timeout=20.0):
    """True once the JACK server `server` (started as `proc`) takes clients and its driver's
    ports exist. A fixed second's sleep lost that race on a busy machine, and so did waiting
    for the server alone: ALSA's jack plugin connects to system:capture_1 and
    system:playback_1 on open, and failed with an I/O error while they were not there yet."""
    if not shutil.which("jack_lsp"):
        time.sleep(1.0)
        return proc.poll() is None
    env = dict(os.environ, JACK_NO_START_SERVER="1")
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            r = subprocess.run(["jack_lsp", "-s", server], env=env, capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            continue
        ports = r.stdout.split()
        if r.returncode == 0 and "system:capture_1" in ports and "system:playback_1" in ports:
            return True
        time.sleep(0.1)
    return False


def build_library(models_dir):
    """At least six models of mixed formats; returns (files, sources for phase 3, note)."""
    corpus = corpus_dir()
    os.makedirs(models_dir, exist_ok=True)
    from firmware.testing.models import write_model
    write_model(os.path.join(models_dir, "f-lstm16.npz"), arch="LSTM", seed=3, hidden=16, name="LSTM-16")
    if corpus:
        picks = [("nam", "wavenet_a1_standard.nam", "a-standard.nam"), ("nam", "A2.nam", "b-a2.nam"),
                 ("nam", "lstm.nam", "c-lstm.nam"), ("guitarml", "TS9_FullD.json", "d-ts9.json"),
                 ("aidax", "tw40_blues_deluxe_deerinkstudios.json", "e-bluesdeluxe.json")]
        for sub, name, dest in picks:
            shutil.copy(os.path.join(corpus, sub, name), os.path.join(models_dir, dest))
        sources = [os.path.join(corpus, "nam", n) for n in ("wavenet_a1_standard.nam", "A2.nam")]
        return sorted(os.listdir(models_dir)), sources, "models: ../shared/corpus (real files)"
    from firmware import models as _models
    from firmware.models import presets
    from firmware.models.modelfile import ModelFile
    from firmware.models.random import random_weights
    cfg = presets.wavenet_preset("standard")
    mf = ModelFile("WaveNet", cfg, random_weights("WaveNet", cfg), metadata={"name": "standard", "loudness": -18.0})
    mf.save(os.path.join(models_dir, "a-standard.npz"))
    for i, h in enumerate((8, 12, 24, 40)):
        write_model(os.path.join(models_dir, f"{chr(98 + i)}-lstm{h}.npz"), arch="LSTM", seed=i, hidden=h,
                    name=f"LSTM-{h}")
    del _models
    return sorted(os.listdir(models_dir)), [os.path.join(models_dir, "a-standard.npz")], \
        "models: generated (../shared/corpus not found: no .nam/.json files)"


class Copier:
    """Copies a new variant of a source file into the folder every `every` seconds, as scp
    does: a temporary name, then a rename. Each copy differs (its name in the metadata), so
    the librarian converts every one instead of finding it in its cache."""

    def __init__(self, models_dir, sources, every=1.0):
        self.models_dir, self.every = models_dir, every
        self.sources = []
        for s in sources:
            with open(s, "rb") as f:
                self.sources.append((os.path.splitext(s)[1], f.read()))
        self.count = 0

    def copy_one(self):
        ext, data = self.sources[self.count % len(self.sources)]
        self.count += 1
        if ext in (".nam", ".json"):
            obj = json.loads(data)
            obj.setdefault("metadata", {})
            obj["metadata"] = dict(obj["metadata"] or {}, name=f"copy {self.count}")
            data = json.dumps(obj).encode()
        else:
            data = data + b""          # an .npz copy: same bytes (the cache finds it)
        dest = os.path.join(self.models_dir, f"z-new{self.count:03d}{ext}")
        tmp = os.path.join(self.models_dir, f".z-new{self.count:03d}{ext}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, dest)
        return len(data)


def _hog():
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _pids(root):
    """root and every descendant process."""
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def _pin(root, cpus):
    """Every thread of root and its descendants onto `cpus`."""
    for pid in _pids(root):
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    os.sched_setaffinity(int(tid), cpus)
                except OSError:
                    pass
        except OSError:
            pass


class Collector(_Poller):
    """Reads every block's compute time and lateness from the engine's shared block."""
    SLOW_PERIODS = 2.0      # a block computing for longer has surely made an xrun
    LATE_PERIODS = 1.0      # one starting this late has used up the 2-period buffer's margin

    def __init__(self, shared):
        super().__init__(0.1)
        self.shared = shared
        from firmware.ipc import shared as sh
        self.sh = sh
        self.last = int(shared.counters[sh.BLOCKS])
        self.cpu, self.late = [], []
        self.lost = 0
        self.t0 = time.monotonic()
        self.xruns = self._xruns()
        self.xrun_at = []           # seconds into the phase at which the xrun counters moved (to 0.1 s)
        self.xrun_times = []        # the same, as time.monotonic()
        c = shared.counters
        self.block_s = int(c[sh.PERIOD]) / max(1, int(c[sh.RATE]))
        self.slow = []              # (time.monotonic(), ms) of blocks that computed for over SLOW_PERIODS periods
        self.late_starts = []       # (time.monotonic(), ms) of blocks that started LATE_PERIODS periods late or more

    def _xruns(self):
        c = self.shared.counters
        return int(c[self.sh.OVERRUNS]) + int(c[self.sh.UNDERRUNS])

    def poll(self):
        sh = self.sh
        xruns = self._xruns()
        if xruns > self.xruns:
            now = time.monotonic()
            self.xrun_at += [round(now - self.t0, 1)] * (xruns - self.xruns)
            self.xrun_times += [now] * (xruns - self.xruns)
        self.xruns = xruns
        now = int(self.shared.counters[sh.BLOCKS])
        n = now - self.last
        if n <= 0:
            return
        if n > sh.RING:
            self.lost += n - sh.RING
            n = sh.RING
        idx = np.arange(now - n, now) & (sh.RING - 1)
        cpu = self.shared.cpu_ns[idx].copy()
        self.cpu.append(cpu)
        t = time.monotonic()
        for j in np.flatnonzero(cpu > self.SLOW_PERIODS * self.block_s * 1e9) if self.block_s else ():
            # when it ran, from its place in the ring: the newest block ran about now
            self.slow.append((t - (n - 1 - j) * self.block_s, float(cpu[j]) / 1e6))
        late = self.shared.late_frames[idx].copy()
        self.late.append(late)
        period = self.block_s * int(self.shared.counters[sh.RATE])
        for j in np.flatnonzero(late >= self.LATE_PERIODS * period) if self.block_s else ():
            self.late_starts.append((t - (n - 1 - j) * self.block_s, float(late[j]) * self.block_s / period * 1e3))
        self.last = now

    def stop(self):
        """(each block's CPU time, each block's lateness) since the start."""
        super().stop()
        return _joined(self.cpu), _joined(self.late)


def _joined(parts):
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def run_realtime(seconds=20.0, phases=(0, 1, 2, 3, 4, 5, 6), period=64, periods=2, log=print, extra_phase=None):
    """Run the phases; returns (rows, note). Each row: phase, what, xruns, late p99.9/max
    (fraction of a period), cpu p99/max, switches, files copied, blocks."""
    if not jack_available():
        raise BenchError("needs jackd and ALSA's jack plugin: apt-get install jackd2 libasound2-plugins")
    from firmware.ipc.shared import SharedBlock
    from firmware.pedal.control import request
    work = tempfile.mkdtemp(prefix="tubeless-rtbench-")
    server = f"tubeless-bench-{os.getpid()}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=server, JACK_NO_AUDIO_RESERVATION="1",
               ALSA_CONFIG_PATH=f"/usr/share/alsa/alsa.conf:{work}/jack.conf", PYTHONUNBUFFERED="1")
    procs = []
    try:
        with open(f"{work}/jack.conf", "w") as f:
            f.write(jack_alsa_conf("tubeless_bench"))
        models_dir = f"{work}/models"
        files, sources, note = build_library(models_dir)
        sock = f"{work}/control.sock"
        with open(f"{work}/pedal.toml", "w") as f:
            f.write(f'[audio]\ncapture_device = "tubeless_bench"\nplayback_device = "tubeless_bench"\n'
                    f'period = {period}\nperiods = {periods}\nstatus_file = ""\n'
                    f'[models]\ndirectory = "{models_dir}"\ncache = "{work}/cache"\n'
                    f'[control]\nsocket = "{sock}"\n[state]\nfile = "{work}/state.json"\n'
                    f'[controls]\nenabled = false\nkeyboard = false\n')
        # JACK's threads above the pedal's (89 > 70): they stand in for the sound card's
        # interrupt and DMA, which no thread of the pedal can delay on a Pi.
        jack = subprocess.Popen(["jackd", "-R", "-P", "89", "-n", server, "-d", "dummy", "-r", "48000",
                                 "-p", str(period)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(jack)
        if not wait_for_jack(server, jack):
            raise BenchError("jackd did not start")
        rows = []
        if 0 in phases:
            log(f"phase 0: {seconds:.0f} s ...")
            watch = StealWatch().start()
            out = subprocess.run([sys.executable, "-c", "import sys; from firmware.tools.rtbench import bare_loop; "
                                  f"bare_loop('tubeless_bench', {seconds}, {period}, {periods})"],
                                 env=env, capture_output=True, text=True, timeout=seconds + 60)
            try:
                r = json.loads(out.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                raise BenchError(f"the bare loop failed: {out.stderr.strip()[-300:]}") from None
            stolen, share = watch.stop().beside(r.get("xrun_times", []))
            steal = watch.total_ms()
            late, cpu = np.array(r["late"], np.float64), np.array(r["cpu"], np.float64)
            P = period / 48000 * 1e9
            rows.append({"phase": 0, "what": PHASES[0], "xruns": r["xruns"],
                         "late_p999": float(np.percentile(late, 99.9) / period), "late_max": float(late.max() / period),
                         "cpu_p99": float(np.percentile(cpu, 99) / P), "cpu_max": float(cpu.max() / P),
                         "switches": 0, "copied": 0, "blocks": len(late), "lost": 0, "realtime": True, "models": 0,
                         "steal_ms": steal, "xruns_beside_steal": stolen, "steal_share": share})
        pedal_log = open(f"{work}/pedal.log", "wb")
        pedal = subprocess.Popen([sys.executable, "-m", "firmware", "run", "--config", f"{work}/pedal.toml"],
                                 env=env, stdout=pedal_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        procs.append(pedal)
        status = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if pedal.poll() is not None:
                raise BenchError(f"the pedal stopped; its log: {work}/pedal.log")
            try:
                status = request(sock, {"cmd": "status"})["status"]
                if status["frames"] > 48000 and status["models"] >= len(files):
                    break
            except Exception:
                pass
            time.sleep(0.5)
        else:
            raise BenchError("the pedal did not start playing within 10 minutes")
        shared = SharedBlock(status["shared"])
        request(sock, {"cmd": "select", "name": "1"})
        time.sleep(2.0)
        copier = Copier(models_dir, sources)
        all_phases = [p for p in phases if p != 0] + ([extra_phase] if extra_phase else [])
        for phase in all_phases:
            what = PHASES.get(phase) if isinstance(phase, int) else phase[0]
            log(f"phase {phase if isinstance(phase, int) else what}: {seconds:.0f} s ...")
            hogs = []
            nexts = phase in (2, 4, 5)
            copies = phase in (3, 4, 5)
            if phase in (4, 5):
                hogs = [_hog(), _hog()]
            if phase == 5:
                _pin(pedal.pid, {0})
                _pin(hogs[0].pid, {0})
            before = request(sock, {"cmd": "status"})["status"]
            col = Collector(shared).start()
            watch = StealWatch().start()
            copied = 0
            t0 = time.monotonic()
            next_at, copy_at = t0, t0
            hook = phase[1] if not isinstance(phase, int) else None
            if phase == 7:                         # MIDI (firmware/tools/midistorm.py)
                from firmware.tools.midistorm import storm_phase as hook
            if phase == 6:                         # tubeless web beside the pedal (firmware/tools/webbench.py)
                from firmware.tools.webbench import web_phase as hook
            if phase == 8:                         # the rig (firmware/tools/rigstorm.py)
                from firmware.tools.rigstorm import rig_phase as hook
            if phase == 9:                         # presets (firmware/tools/presetstorm.py)
                from firmware.tools.presetstorm import preset_phase as hook
            if phase == 10:                        # the hostile network (firmware/tools/hostilebench.py)
                from firmware.tools.hostilebench import hostile_phase as hook
            if phase == 11:                        # recording (firmware/tools/recordbench.py)
                from firmware.tools.recordbench import record_phase as hook
            if phase == 12:                        # a capture (firmware/tools/capturebench.py)
                from functools import partial

                from firmware.tools.capturebench import capture_phase
                hook = partial(capture_phase, seconds=seconds)
            rig_changes = rig_refused = 0
            hook_state = None
            if hook is not None:
                hook_state = hook("start", work)
            # what a phase costs the player: how long from `next` until the new model plays,
            # and from a file landing in the folder until it is playable
            switch_wait, library_wait = [], []
            want, want_at, landed, seen_models, last_poll = None, 0.0, [], before["models"], 0.0
            while time.monotonic() - t0 < seconds:
                now = time.monotonic()
                if nexts and now >= next_at:
                    reply = request(sock, {"cmd": "next"})
                    if want is None and reply.get("selected"):
                        want, want_at = reply["selected"]["file"], now
                    next_at += 0.5
                if copies and now >= copy_at:
                    copier.copy_one()
                    landed.append(time.monotonic())
                    copied += 1
                    copy_at += 1.0
                if (want is not None or landed) and now - last_poll >= 0.01:
                    last_poll = now
                    st = request(sock, {"cmd": "status"})["status"]
                    if want is not None and st["model_file"] == want:
                        switch_wait.append(time.monotonic() - want_at)
                        want = None
                    while landed and st["models"] > seen_models:
                        library_wait.append(time.monotonic() - landed.pop(0))
                        seen_models += 1
                time.sleep(0.005)
            if hook is not None:
                hook_state = hook("stop", hook_state)
                if isinstance(hook_state, dict):
                    copied += hook_state.get("uploads", 0)       # the web phase's uploads (files in)
                    rig_changes = hook_state.get("sent", 0) if phase == 8 else 0
                    rig_refused = hook_state.get("errors", 0) if phase == 8 else 0
                    if phase == 9 and hook_state.get("waits"):      # stomp -> the new preset's model plays
                        switch_wait = list(hook_state["waits"])
                    if phase == 9 and hook_state.get("errors"):
                        log(f"phase 9: {hook_state['errors']} stomps refused, the first: {hook_state.get('error')}")
                    if rig_refused:
                        log(f"phase 8: {rig_refused} changes refused, the first: {hook_state.get('error')}")
                    if phase == 10:
                        from firmware.tools.hostilebench import summary
                        log(f"phase 10: {summary(hook_state)}")
                    if phase == 11:
                        from firmware.tools.recordbench import summary
                        log(f"phase 11: {summary(hook_state)}")
                    if phase == 12:
                        from firmware.tools.capturebench import summary
                        log(f"phase 12: {summary(hook_state)}")
            cpu, late = col.stop()
            stolen, share = watch.stop().beside(col.xrun_times)
            steal = watch.total_ms()
            after = request(sock, {"cmd": "status"})["status"]
            for h in hogs:
                h.kill()
                h.wait()
            if phase == 5:
                _pin(pedal.pid, set(range(os.cpu_count() or 1)))
            P = period / 48000 * 1e9
            rows.append({
                "phase": phase if isinstance(phase, int) else len(rows) + 1, "what": what,
                "xruns": after["xruns"] - before["xruns"],
                "late_p999": float(np.percentile(late, 99.9) / period) if len(late) else 0.0,
                "late_max": float(late.max() / period) if len(late) else 0.0,
                "cpu_p50": float(np.percentile(cpu, 50) / P) if len(cpu) else 0.0,
                "cpu_p99": float(np.percentile(cpu, 99) / P) if len(cpu) else 0.0,
                "cpu_max": float(cpu.max() / P) if len(cpu) else 0.0,
                "switches": after["switches"] - before["switches"], "copied": copied,
                "blocks": int(len(cpu)), "lost": col.lost, "realtime": after["realtime"],
                "models": after["models"],
                "midi": (after.get("midi", {}).get("events", 0) - before.get("midi", {}).get("events", 0)),
                "rig_changes": rig_changes, "rig_refused": rig_refused,
                "switch_ms": float(np.median(switch_wait) * 1e3) if switch_wait else None,
                "switch_max_ms": float(np.max(switch_wait) * 1e3) if switch_wait else None,
                "library_ms": float(np.median(library_wait) * 1e3) if library_wait else None,
                "steal_ms": steal, "xrun_at": col.xrun_at, "xruns_beside_steal": stolen, "steal_share": share,
            })
            if col.xrun_at:
                log(f"phase {rows[-1]['phase']}: xruns at {', '.join(f'{t:.1f}' for t in col.xrun_at)} s")
            acts = hook_state.get("acted_at", []) if isinstance(hook_state, dict) else []
            for events, what, periods in ((col.slow, "computed for over", Collector.SLOW_PERIODS),
                                          (col.late_starts, "started late by", Collector.LATE_PERIODS)):
                if events:
                    log(f"phase {rows[-1]['phase']}: {outliers_text(events, col.t0, acts, what, periods)}")
            time.sleep(1.0)
        return rows, note
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM) if p is not procs[0] else p.terminate()
                except OSError:
                    pass
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)


def outliers_text(events, t0, acted_at=(), what="computed for over", periods=Collector.SLOW_PERIODS, most=8,
                  soon_s=0.06):
    """'2 blocks computed for over 2 periods (1 within 60 ms after an action), the worst at
    3.1 s: 7.1 ms (12 ms after an action), ...': the worst `most` of (time, ms), each with the
    time since the phase's last action (a stomp, a request) before it."""
    acts = sorted(acted_at)

    def since(t):
        before = [a for a in acts if a <= t]
        return t - before[-1] if before else None

    parts = []
    for t, ms in sorted(events, key=lambda e: -e[1])[:most]:
        s = since(t)
        parts.append(f"{t - t0:.1f} s: {ms:.1f} ms" + (f" ({s * 1e3:.0f} ms after an action)" if s is not None else ""))
    soon = sum(1 for t, _ in events if (s := since(t)) is not None and s <= soon_s)
    within = f" ({soon} within {soon_s * 1e3:.0f} ms after an action)" if acts else ""
    return f"{len(events)} blocks {what} {periods:g} periods{within}, the worst at " + ", ".join(parts)


def _ms(v):
    return "" if v is None else f"{v:.0f} ms"


def format_rows(rows, note, period=64):
    us = period / 48000 * 1e6
    lines = [f"Real time on a JACK dummy device: period {period} ({us:.0f} us), 2 periods; {note}",
             "",
             "| phase | what | xruns | host steal | xruns beside steal | late p99.9 | late max | CPU p99 | CPU max "
             "| switches | next -> playing | files in | file -> playable |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        secs = r["blocks"] * period / 48000
        what = r["what"] + (f" ({r['midi'] / secs:.0f} mapped a second)" if r.get("midi") and secs else "")
        if r.get("rig_changes") and secs:
            what += f" ({r['rig_changes'] / secs:.0f} changes a second, {r['rig_refused']} refused)"
        beside = (f"{r['xruns_beside_steal']} of {r['xruns']} ({100 * r.get('steal_share', 0.0):.0f} % of the time)"
                  if "xruns_beside_steal" in r else "")
        lines.append(f"| {r['phase']} | {what} | {r['xruns']} | {r.get('steal_ms', 0.0):.0f} ms | {beside} | "
                     f"{100 * r['late_p999']:.1f}% | "
                     f"{100 * r['late_max']:.1f}% ({r['late_max'] * us:.0f} us) | {100 * r['cpu_p99']:.1f}% | "
                     f"{100 * r['cpu_max']:.1f}% | {r['switches']} | {_ms(r.get('switch_ms'))} | {r['copied']} | "
                     f"{_ms(r.get('library_ms'))} |")
    rt = all(r["realtime"] for r in rows)
    lines.append("")
    lines.append(f"(lateness and CPU as a share of one period; medians of the waits; host steal: the CPU time "
                 f"the host took from this virtual machine during the phase, both CPUs; xruns beside steal: those with "
                 f"at least a 10 ms tick of it in the {StealWatch.WINDOW_S:g} s before them, and the share of the "
                 f"phase's {StealWatch.WINDOW_S:g} s windows that had such steal; audio thread "
                 f"{'SCHED_FIFO' if rt else 'NOT real-time'};"
                 f" {sum(r['blocks'] for r in rows)} blocks measured, {sum(r['lost'] for r in rows)} missed)")
    return "\n".join(lines)
