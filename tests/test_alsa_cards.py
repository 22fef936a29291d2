"""Finding the codec HAT's card by name, from a fake /proc/asound/cards; `tubeless run` on a
machine with no sound card at all."""
import sys
import types

import pytest
from helpers import run_tubeless

from firmware.platform import cards as alsa_cards
from firmware.platform.cards import Card, CardError

# A Pi 5 with a HiFiBerry DAC+ADC Pro: two HDMI cards first, the HAT third. Column layout
# as the kernel prints it ("%2i [%-15s]: %s - %s" then the long name indented).
PI5_HIFIBERRY = """\
 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0
                      vc4-hdmi-0
 1 [vc4hdmi1       ]: vc4-hdmi - vc4-hdmi-1
                      vc4-hdmi-1
 2 [sndrpihifiberry]: HifiberryDacp - snd_rpi_hifiberry_dacplusadcpro
                      snd_rpi_hifiberry_dacplusadcpro
"""

PI4_CODEC_ZERO = """\
 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones
                      bcm2835 Headphones
 1 [Zero           ]: RPi Codec Zero - RPi Codec Zero
                      RPi Codec Zero
"""


@pytest.fixture
def cards_file(tmp_path):
    def write(text):
        path = tmp_path / "cards"
        path.write_text(text)
        return str(path)
    return write


def test_parses_index_id_driver_and_names():
    cards = alsa_cards.parse_cards(PI5_HIFIBERRY)
    assert [c.index for c in cards] == [0, 1, 2]
    assert cards[2] == Card(2, "sndrpihifiberry", "HifiberryDacp",
                            "snd_rpi_hifiberry_dacplusadcpro", "snd_rpi_hifiberry_dacplusadcpro")
    assert cards[0].long_name == "vc4-hdmi-0"


def test_no_soundcards_text_parses_to_nothing():
    assert alsa_cards.parse_cards("--- no soundcards ---\n") == []


def test_finds_hat_by_substring_and_maps_to_pcm_by_id(cards_file):
    path = cards_file(PI5_HIFIBERRY)
    card = alsa_cards.find_card("hifiberry", cards_file=path)
    assert card.id == "sndrpihifiberry"
    assert card.pcm() == "hw:CARD=sndrpihifiberry,DEV=0"
    # The long name and driver match too, case-insensitively.
    assert alsa_cards.find_card("DACPLUSADCPRO", cards_file=path).index == 2


def test_exact_id_wins_over_substring_matches(cards_file):
    path = cards_file(PI4_CODEC_ZERO)
    # "Zero" is the Codec Zero's id; exact id match picks it even though it is short.
    assert alsa_cards.find_card("zero", cards_file=path).pcm(1) == "hw:CARD=Zero,DEV=1"


def test_ambiguous_query_names_the_candidates(cards_file):
    path = cards_file(PI5_HIFIBERRY)
    with pytest.raises(CardError, match=r"'vc4' matches 2 sound cards.*vc4hdmi0.*vc4hdmi1"):
        alsa_cards.find_card("vc4", cards_file=path)


def test_missing_card_lists_cards_present(cards_file):
    path = cards_file(PI4_CODEC_ZERO)
    with pytest.raises(CardError, match=r"no sound card matches 'pisound'.*Headphones.*Zero"):
        alsa_cards.find_card("pisound", cards_file=path)


def test_no_cards_at_all_points_at_the_overlay(cards_file):
    path = cards_file("--- no soundcards ---\n")
    with pytest.raises(CardError, match="dtoverlay"):
        alsa_cards.find_card("hifiberry", cards_file=path)


def test_empty_query_is_an_error(cards_file):
    with pytest.raises(CardError, match="no sound card name"):
        alsa_cards.find_card("  ", cards_file=cards_file(PI5_HIFIBERRY))


def test_pcm_names_pass_through_and_card_names_resolve(cards_file):
    path = cards_file(PI5_HIFIBERRY)
    assert alsa_cards.pcm_device("plughw:CARD=vc4hdmi0,DEV=0", cards_file=path) == "plughw:CARD=vc4hdmi0,DEV=0"
    assert alsa_cards.pcm_device("default", cards_file=path) == "default"
    assert alsa_cards.pcm_device("hifiberry", cards_file=path) == "hw:CARD=sndrpihifiberry,DEV=0"


def test_falls_back_to_alsaaudio_without_proc_file(tmp_path, monkeypatch):
    fake = types.ModuleType("alsaaudio")
    fake.cards = lambda: ["vc4hdmi0", "pisound"]
    monkeypatch.setitem(sys.modules, "alsaaudio", fake)
    missing = str(tmp_path / "absent")
    assert alsa_cards.list_cards(missing) == [Card(0, "vc4hdmi0"), Card(1, "pisound")]
    assert alsa_cards.find_card("pisound", cards_file=missing).pcm() == "hw:CARD=pisound,DEV=0"


def test_hat_ids_fit_alsa_id_rules():
    # ALSA card ids are at most 15 alphanumerics; a longer id in the table could never match.
    for hat, card_id in alsa_cards.HAT_CARD_IDS.items():
        assert card_id.isalnum() and len(card_id) <= 15, hat


def test_run_without_a_sound_card_says_so_once(tmp_path):
    if alsa_cards.list_cards():
        pytest.skip("this machine has a sound card")
    out = run_tubeless("run", "--models", str(tmp_path), "--socket", str(tmp_path / "ctl.sock"))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tubeless: error: no sound card here")
    assert "simulate" in lines[0] and "ALSA lib" not in out.stderr
