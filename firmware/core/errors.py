"""Every exception of the firmware, in one place (as gpiozero's exc.py).

`UserError` is what a user can cause: a bad or hostile file, an output that cannot be
written, a wrong option, a device that is not there. Every command prints one as a single
line (exit status 2), the control channel and the web page send its text as the reply;
never a traceback. Each kind keeps the standard exception it refines (ValueError,
LookupError, RuntimeError) as a second base, so code that catches those keeps working.
The other exceptions here are the firmware's own signals between its parts."""


class UserError(Exception):
    """An error the user caused: its text is the whole one-line message."""


# --- files ------------------------------------------------------------------------------
class ModelFileError(UserError, ValueError):
    """A model file that cannot be played. The message names the file and the field."""

    def __init__(self, path, message):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class LimitError(ModelFileError):
    """A model file beyond a resource limit. The message names the file, the field and the limit."""


class ModelConfigError(UserError, ValueError):
    """A config or weight set that this architecture cannot run; the message names the field."""


class UnsupportedModel(UserError):
    """A file the pedal has no loader for."""


class AudioFileError(UserError, ValueError):
    """A WAV file that cannot be used; the message names the file."""


class OutputError(UserError, ValueError):
    """An output path that cannot be written; the message names it and says why."""


class ResampleError(UserError, ValueError):
    """A pair of sample rates the resampler cannot bridge."""


# --- settings ---------------------------------------------------------------------------
class ConfigError(UserError, ValueError):
    """A config file or override that cannot be used (unknown key, wrong type, bad value)."""


class MidiConfigError(UserError, ValueError):
    """A [midi] mapping that cannot be used."""


class SettingsError(UserError, ValueError):
    """A setting changed from the web page that cannot be used."""


class PasswordError(UserError, ValueError):
    """A web password that cannot be set or checked."""


class HotspotError(SettingsError):
    """A hotspot or Wi-Fi setting, profile or request that cannot be used (firmware/network)."""


class NetworkManagerError(UserError, RuntimeError):
    """NetworkManager (nmcli) is missing, or refused or failed a change."""


class FileError(UserError, ValueError):
    """A refused upload name or file; the text is the one-line reason shown on the page."""


class SimulationError(UserError, ValueError):
    """A `simulate` event list or option that cannot be played."""


class PresetError(UserError, ValueError):
    """A preset, bank or rig bundle that cannot be used (firmware.presets); the text names
    the file and the key."""


class LayoutError(UserError, ValueError):
    """A capture signal's layout sidecar that cannot describe the audio it sits next to."""


class CaptureError(UserError, RuntimeError):
    """A capture (`tubeless capture`) that cannot start or whose recording cannot be used: the
    text says what to change (a level, a cable, the running pedal)."""


# --- devices and processes --------------------------------------------------------------
class CardError(UserError, LookupError):
    """No sound card, or more than one, matches the query. The message lists the cards present."""


class AudioConfigError(UserError, RuntimeError):
    """The audio device cannot run with the parameters the pedal needs."""


class RecordError(UserError, RuntimeError):
    """A recording of what is played that cannot start (firmware.pedal.recorder)."""


class MessageError(UserError, ValueError):
    """A malformed or unknown message between processes or on the control channel; the text
    is the one-line reply."""


class ControlError(UserError, RuntimeError):
    """The pedal's control socket cannot be reached, or refused a request."""


class PedalDown(Exception):
    """The web page's signal that the pedal (its control socket) does not answer."""


class BenchError(RuntimeError):
    """A benchmark that cannot run here (no JACK, no corpus, a phase that failed)."""
