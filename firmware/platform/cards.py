"""Find the codec HAT's ALSA card by name, so the config can say `card = "hifiberry"`.

Card numbers change with boot order (HDMI, USB, the HAT), names do not. The kernel lists
the cards in /proc/asound/cards, two lines each:

     0 [sndrpihifiberry]: HifiberryDacp - snd_rpi_hifiberry_dacplusadcpro
                          snd_rpi_hifiberry_dacplusadcpro

that is `index [id]: driver - short name`, then the long name. A query matches a card when
it equals the id (case-insensitive), or else when it is a substring of the id, driver,
short or long name. The result maps to "hw:CARD=<id>,DEV=0", which stays valid whatever
index the card got.

    from firmware.platform import cards
    alsa_cards.find_card("hifiberry").pcm()      # 'hw:CARD=sndrpihifiberry,DEV=0'
    alsa_cards.pcm_device("hw:CARD=Zero,DEV=0")  # full PCM names pass through untouched
"""
import re
from dataclasses import dataclass

from firmware.core.errors import CardError

PROC_CARDS = "/proc/asound/cards"

# The ALSA card id each supported HAT gets (the kernel derives it from the machine
# driver's card name: alphanumerics only, at most 15 characters). See hw/README.md.
HAT_CARD_IDS = {
    "hifiberry-dacplusadcpro": "sndrpihifiberry",
    "codec-zero": "Zero",              # Raspberry Pi branded (green) board
    "iqaudio-codec": "IQaudIOCODEC",   # IQaudIO branded (black) board
    "audioinjector-stereo": "audioinjectorpi",
    "pisound": "pisound",
}

_HEADER = re.compile(r"^\s*(\d+)\s+\[([^\]\s]+)\s*\]:\s*(.*)$")


@dataclass(frozen=True)
class Card:
    index: int
    id: str
    driver: str = ""
    name: str = ""
    long_name: str = ""

    def pcm(self, device=0):
        """The ALSA PCM name for this card, by id so it survives renumbering."""
        return f"hw:CARD={self.id},DEV={int(device)}"

    def describe(self):
        label = self.long_name or self.name
        return f"{self.index} {self.id}" + (f" ({label})" if label and label != self.id else "")

    def matches(self, query):
        q = query.casefold()
        return any(q in field.casefold() for field in (self.id, self.driver, self.name, self.long_name))


def parse_cards(text):
    """Parse the text of /proc/asound/cards into a list of Card, in file order."""
    cards = []
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            index, card_id, rest = header.groups()
            driver, sep, name = rest.partition(" - ")
            if not sep:  # no " - ": the driver field is all there is
                driver, name = rest, ""
            cards.append(Card(int(index), card_id, driver.strip(), name.strip()))
        elif cards and line.strip() and not cards[-1].long_name and line.startswith(" "):
            c = cards[-1]
            cards[-1] = Card(c.index, c.id, c.driver, c.name, line.strip())
    return cards


def list_cards(cards_file=PROC_CARDS):
    """The sound cards present: from `cards_file` (/proc/asound/cards), or where that file
    does not exist, from alsaaudio.cards() (ids only). [] when there are none."""
    try:
        with open(cards_file, encoding="utf-8", errors="replace") as f:
            return parse_cards(f.read())
    except FileNotFoundError:
        pass
    try:
        import alsaaudio
    except ImportError:
        return []
    # alsaaudio gives ids in index order; the position stands in for the index.
    return [Card(i, card_id) for i, card_id in enumerate(alsaaudio.cards())]


def find_card(query, cards=None, cards_file=PROC_CARDS):
    """The one card that `query` names (see module doc). Raises CardError otherwise."""
    query = (query or "").strip()
    if not query:
        raise CardError("no sound card name given")
    if cards is None:
        cards = list_cards(cards_file)
    if not cards:
        raise CardError(f"no sound card matches {query!r}: no sound cards at all. "
                        "Is the HAT's dtoverlay in /boot/firmware/config.txt, and did you reboot?")
    exact = [c for c in cards if c.id.casefold() == query.casefold()]
    if len(exact) == 1:
        return exact[0]
    found = [c for c in cards if c.matches(query)]
    if len(found) == 1:
        return found[0]
    present = "; ".join(c.describe() for c in cards)
    if not found:
        raise CardError(f"no sound card matches {query!r}. Cards present: {present}")
    raise CardError(f"{query!r} matches {len(found)} sound cards, use a longer name or the id. "
                    f"Cards present: {present}")


def is_pcm_name(spec):
    """True for what ALSA already understands as a PCM name ('hw:1,0', 'plughw:CARD=x',
    'default', 'null'), as opposed to a card name to look up."""
    return ":" in spec or spec in ("default", "null", "sysdefault", "pulse", "pipewire", "jack")


def pcm_device(spec, device=0, cards_file=PROC_CARDS):
    """A config's `card` value as an ALSA PCM name: PCM names pass through, anything else is
    looked up with find_card()."""
    spec = (spec or "").strip()
    if spec and is_pcm_name(spec):
        return spec
    return find_card(spec, cards_file=cards_file).pcm(device)
