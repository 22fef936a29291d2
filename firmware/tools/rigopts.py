"""`--set NAME=VALUE` of `render` and `simulate`: the rig's blocks and parameters, in force
from the first sample (the same table as `tubeless ctl set` and `toggle`)."""
from firmware.core.errors import MessageError, SimulationError, UserError
from firmware.dsp import rig

ON_WORDS = {"on": True, "off": False}


def add_set_option(parser):
    parser.add_argument("--set", dest="set", action="append", default=[], metavar="NAME=VALUE",
                        help="a rig block on/off (" + ", ".join(rig.BY_NAME) + "=on) or parameter (bass=0.7, "
                             "delay.time_ms=380: docs/rig.md); repeatable")


def rig_settings(values):
    """[(block, on) or (block.param, value)] of the --set values; UserError in one line."""
    out = []
    for text in values or []:
        name, eq, value = text.partition("=")
        if not eq:
            raise UserError(f"--set {text!r}: expected NAME=VALUE (e.g. bass=0.7 or reverb=on)")
        try:
            out.append(rig_setting(name, value, f"--set {text}"))
        except SimulationError as e:
            raise UserError(str(e)) from None
    return out


def rig_setting(name, text, where):
    """("block", True/False) for BLOCK=on|off, or (qualified parameter, value) for a rig
    parameter: what `simulate --events`/`--set` and `render --set` take. SimulationError in one line."""
    name = name.strip().lower()
    text = text.strip()
    try:
        if name in rig.BY_NAME:
            if text.lower() not in ON_WORDS:
                raise SimulationError(f"{where!r}: {name} takes on or off, not {text!r}")
            return name, ON_WORDS[text.lower()]
        return rig.check(name, text)
    except MessageError as e:
        raise SimulationError(f"{where!r}: {e}") from None
