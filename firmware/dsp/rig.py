"""The rig: the blocks around the amp model, in their order, and the one table of their
parameters (every name, range, unit and default; the control channel, `render --set`,
`simulate`, the config and the docs all read it here).

    gate detector -> drive slot (boost, stomp) -> [tone stack, pre] -> drive -> amp model -> gate
    -> [tone stack, post] -> cabinet IR -> DC blocker -> delay -> reverb -> level -> bypass
    -> limiter

The tone stack, the IR and the DC blocker are linear, so the chain runs the post tone stack
after the IR and the DC blocker: the same sound, and one pass instead of one per IR while two
models crossfade through their own IRs.

A parameter is named `<block>.<param>` ("delay.time_ms"); the tone stack's knobs also go by
their short names ("bass", "mid", "treble", "presence"). A block is switched with its name
("reverb": on/off).
"""
import numpy as np

from firmware.core.errors import MessageError
from firmware.dsp.blocks.base import copy_into
from firmware.dsp.blocks.boost import Boost
from firmware.dsp.blocks.delay import Delay
from firmware.dsp.blocks.reverb import Reverb
from firmware.dsp.blocks.stomp import Stomp
from firmware.dsp.blocks.tonestack import ToneStack

# The order of the blocks' targets in the shared block (append only: the layout is shared
# by two processes built from the same code, but keep it stable for saved state).
BLOCKS = (Boost, ToneStack, Delay, Reverb, Stomp)
BY_NAME = {b.NAME: b for b in BLOCKS}
ALIASES = {"bass": "tonestack.bass", "mid": "tonestack.mid", "treble": "tonestack.treble",
           "presence": "tonestack.presence"}
SHORT = {v: k for k, v in ALIASES.items()}
PRE = ("boost", "stomp")            # before the amp model (the tone stack joins with position "pre")
POST = ("tonestack", "delay", "reverb")   # after the IR and the DC blocker, in this order
TAP_PARAM = "delay.time_ms"         # what a tap tempo sets


def positions(tonestack_position="post"):
    """(the blocks before the amp model, the blocks after it), by name, in playing order."""
    if tonestack_position == "pre":
        return PRE + ("tonestack",), tuple(n for n in POST if n != "tonestack")
    return PRE, POST


def _offsets():
    out, at = {}, 0
    for b in BLOCKS:
        out[b.NAME] = at
        at += b.n_targets()
    return out, at


OFFSETS, N_TARGETS = _offsets()


def resolve(name):
    """(block class, Param) of a parameter name (qualified or short); MessageError otherwise."""
    qualified = ALIASES.get(name, name)
    block, dot, param = qualified.partition(".")
    if not dot or block not in BY_NAME:
        raise MessageError(f"unknown parameter {name!r} (known: {', '.join(names())})")
    cls = BY_NAME[block]
    return cls, cls.param(param)


def names():
    """Every parameter's qualified name, in table order."""
    return [f"{b.NAME}.{p.name}" for b in BLOCKS for p in b.PARAMS]


def block_class(name):
    if name not in BY_NAME:
        raise MessageError(f"unknown block {name!r} (known: {', '.join(BY_NAME)})")
    return BY_NAME[name]


def check(name, value):
    """(qualified name, value within its range) or a one-line MessageError."""
    cls, p = resolve(name)
    return f"{cls.NAME}.{p.name}", cls.check(p.name, value)


def index(name):
    """The slot of a parameter (or, for a block's name, of its on/off) in the targets."""
    if name in BY_NAME:
        return OFFSETS[name]
    cls, p = resolve(name)
    return OFFSETS[cls.NAME] + cls.slot(p.name)


def settings_of_config(table, where="rig"):
    """[(block, on) or (block.param, value)] of the config's [rig] table; MessageError in one
    line naming the key."""
    out = []
    for key, value in table.items():
        if isinstance(value, dict):
            block_class(key)
            for sub, v in value.items():
                if sub == "on" and not isinstance(v, bool):
                    raise MessageError(f"{where}.{key}.on: must be true or false, not {v!r}")
                out += settings_of_config({key if sub == "on" else f"{key}.{sub}": v}, where)
        elif key in BY_NAME:
            if not isinstance(value, bool):
                raise MessageError(f"{where}.{key}: must be true or false, not {value!r}")
            out.append((key, value))
        else:
            try:
                out.append(check(key, value))
            except MessageError as e:
                raise MessageError(f"{where}: {e}") from None
    return out


DOC_BEGIN = "<!-- the rig's parameters: written by `python -m firmware.dsp.rig docs/rig.md` -->"
DOC_END = "<!-- end of the rig's parameters -->"


def markdown():
    """The parameter table of docs/rig.md, from the blocks' own tables."""
    rows = ["| block | on by default | parameter | range | default | what it does |", "|---|---|---|---|---|---|"]
    for b in BLOCKS:
        for i, p in enumerate(b.PARAMS):
            name = f"`{b.NAME}.{p.name}`" + (f" (`{SHORT[b.NAME + '.' + p.name]}`)" if b.NAME + "." + p.name in SHORT
                                              else "")
            unit = f" {p.unit}" if p.unit else ""
            rows.append(f"| {'`' + b.NAME + '`' if i == 0 else ''} | {('yes' if b.DEFAULT_ON else 'no') if i == 0 else ''}"
                        f" | {name} | {p.lo:g}..{p.hi:g}{unit} | {p.default:g} | {p.doc} |")
    return "\n".join(rows) + "\n"


def default_targets():
    return np.concatenate([b.default_targets() for b in BLOCKS])


class RigControls:
    """The rig's targets as the control side writes them: one store per change (over the
    shared block in the pedal). Knows the table; holds no audio buffers."""

    def __init__(self, targets=None):
        self.targets = default_targets() if targets is None else targets

    def set(self, name, value):
        qualified, v = check(name, value)
        self.targets[index(qualified)] = v
        return qualified, v

    def get(self, name):
        return float(self.targets[index(ALIASES.get(name, name))])

    def set_on(self, block, on):
        block_class(block)
        self.targets[OFFSETS[block]] = 1.0 if on else 0.0

    def is_on(self, block):
        block_class(block)
        return bool(self.targets[OFFSETS[block]] > 0.5)

    def values(self):
        """{block: {"on": bool, param: value}}: for status, state files and the page."""
        out = {}
        for b in BLOCKS:
            o = OFFSETS[b.NAME]
            out[b.NAME] = {"on": bool(self.targets[o] > 0.5),
                           **{p.name: float(self.targets[o + 1 + i]) for i, p in enumerate(b.PARAMS)}}
        return out

    def reset_defaults(self):
        self.targets[:] = default_targets()

    def apply(self, settings):
        """[(block, on) or (block.param, value)], as `settings_of_config` and the CLI's --set
        give them (checked again here)."""
        for name, value in settings:
            if name in BY_NAME:
                self.set_on(name, value)
            else:
                self.set(name, value)


# With `audio.stereo_out`, the blocks that make the space play each output channel through a
# twin of their own over the same targets, built to differ: the right reverb's FDN has other
# line lengths, modulation phases and signs (decorrelated tails), the right delay's repeats
# come 2 % later each pass (the echoes walk apart across the field). Everything before
# them stays mono (the same samples on both channels), so mono is what it was.
WIDE = {"delay": {"spread": 0.02}, "reverb": {"seed": 1}}


class Rig(RigControls):
    """The blocks themselves (audio side): each over its slice of the targets."""

    def __init__(self, sample_rate, max_block, targets=None, tonestack_position="post", stereo=False):
        super().__init__(targets)
        self.blocks = {}
        self.right = {}                 # stereo: the right channel's twins (WIDE), same targets
        for b in BLOCKS:
            o = OFFSETS[b.NAME]
            view = self.targets[o:o + b.n_targets()]
            kw = {"position": tonestack_position} if b is ToneStack else {}
            self.blocks[b.NAME] = b(sample_rate, max_block, view, **kw)
            if stereo and b.NAME in WIDE:
                self.right[b.NAME] = b(sample_rate, max_block, view, **WIDE[b.NAME])
        pre, post = positions(tonestack_position)
        self.pre = tuple(self.blocks[n] for n in pre)
        self.post = tuple(self.blocks[n] for n in post)
        # stereo: the post blocks before the first twin play mono, the rest per channel
        split = next((i for i, n in enumerate(post) if n in self.right), len(post))
        if stereo and not all(n in self.right for n in post[split:]):
            raise ValueError(f"stereo: every block after {post[split]} needs a right-hand twin")
        self.post_mono = self.post[:split]
        self.post_left = self.post[split:]
        self.post_right = tuple(self.right[n] for n in post[split:]) if stereo else ()

    def pre_active(self):
        """Whether anything before the model would change the signal this block."""
        return not all(b.resting() for b in self.pre)

    def process_pre(self, x, y, n):
        for b in self.pre:
            b.process(x, y, n)
            x = y

    def process_post(self, x, n):
        for b in self.post:
            b.process(x, x, n)

    def process_post_stereo(self, x, right, n):
        """x (mono in) -> x (left) and right: the mono blocks once, then each channel's own."""
        for b in self.post_mono:
            b.process(x, x, n)
        copy_into(x, right, n)
        for b in self.post_left:
            b.process(x, x, n)
        for b in self.post_right:
            b.process(right, right, n)

    def settle(self):
        for b in (*self.blocks.values(), *self.right.values()):
            b.settle()

    def reset(self):
        for b in (*self.blocks.values(), *self.right.values()):
            b.reset()


if __name__ == "__main__":
    import sys

    from firmware.core import docsections
    docsections.write_section(sys.argv[1] if len(sys.argv) > 1 else "docs/rig.md", DOC_BEGIN, DOC_END, markdown())
