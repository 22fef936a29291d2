"""Why a file was refused, in a player's words: the web page's side of the importers' and
the librarian's one-line reasons.

Those reasons are written for `tubeless convert` and the logs, where a field name
("field 'weights' contains NaN or Inf") or a limit in MiB tells a developer exactly what
to fix. A player on the page needs what it means for their file: damaged, too large for
the pedal, made by a version the pedal does not read. Each reason is matched against an
ordered table (the first rule that matches words it); a reason no rule knows is shown as
it is, less any path or quoted internal name. The rules match the importers' messages as
tests/test_web_page_states.py checks them on the hostile files (tests/hostile.py).
"""
import re

DAMAGED = "damaged or incomplete: it is cut short or is not a model file (copy it again from where it came from)"
UNREADABLE = "not a model file the pedal can read: a part of it is missing or of the wrong kind"
TOO_LARGE = "too large for the pedal: more than a Raspberry Pi can play in time"
BROKEN_NUMBERS = "damaged: the model holds or plays values that are not numbers (capture or export it again)"

_MIB = r"([\d.]+) MiB"


def _memory(m):
    return f"too large for the pedal: it would need {float(m[1]):,.0f} MB of memory, a model may use {float(m[2]):,.0f} MB"


class Rule:
    """One kind of reason: a pattern, and the player's words for it (text, or a function of the match)."""

    def __init__(self, pattern, words):
        self.pattern = re.compile(pattern, re.IGNORECASE)
        self.words = words

    def apply(self, reason):
        m = self.pattern.search(reason)
        if m is None:
            return None
        return self.words(m) if callable(self.words) else self.words


RULES = (
    Rule(r"larger than the \d+ MB limit|^empty file$", lambda m: m.string),     # already in a player's words
    Rule(r"does not reproduce|no reference pair", "damaged, or written for another player: it does not play "
                                                  "back as it says it should"),
    Rule(r"not valid JSON|truncated|no zip directory|not a valid model file|corrupt", DAMAGED),
    Rule(r"NaN or Inf", BROKEN_NUMBERS),
    Rule(rf"would need {_MIB} of memory, more than the limit of {_MIB}", _memory),
    Rule(r"more than the limit|nests models more than|nested too deeply to store|multiply-adds|out of memory",
         TOO_LARGE),
    Rule(r"'version' .* is not supported \(this firmware reads (\.nam [^)]*)\)",
         lambda m: f"made by a version of NAM this pedal does not read (it reads {m[1]})"),
    Rule(r"'architecture' '([^']{1,40})' is not a NAM architecture this firmware knows \(([^)]*)\)",
         lambda m: f"a kind of model this pedal does not play ({m[1]}; it plays {m[2]})"),
    Rule(r"not a model format this firmware imports", "not a model file: the pedal reads NAM (.nam), GuitarML "
                                                      "(.json), AIDA-X (.json, .aidax) and its own .npz files"),
    Rule(r"sample.rate", "made for a sample rate the pedal cannot play (8 to 384 kHz)"),
    Rule(r"knob", "asks for knobs the pedal cannot give it (at most 2, each with a sane range)"),
    Rule(r"^cabinet IR not used", "cabinet IR not used: not a WAV file the pedal can read"),
    Rule(r"field '|member '|header|config|JSON|'[\w.\[\]/]+'", UNREADABLE),
)

_PATH = re.compile(r"(?<![\w.])/(?:[^\s/'\":]+/)+[^\s'\":]*")


def scrub(text):
    """A line with no server path in it (a path is shown as its last part)."""
    return _PATH.sub(lambda m: m[0].rstrip("/").rsplit("/", 1)[-1] or "/", str(text)).splitlines()[0][:300] \
        if text else ""


def for_player(reason):
    """A refusal's reason as the page shows it: one line, no path, no internal names."""
    reason = scrub(reason)
    for rule in RULES:
        words = rule.apply(reason)
        if words is not None:
            return words
    return reason


def rejected(entries):
    """The librarian's refused files ([{file, error}]) with their reasons in a player's words."""
    return [{**e, "error": for_player(e.get("error") or "refused")} for e in entries if isinstance(e, dict)]
