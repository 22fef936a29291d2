"""Joining the hotspot in one step: the `WIFI:` string phones' cameras read from a QR code
(ZXing's convention, read by Android and iOS), and the code itself (segno: pure Python,
writes the terminal, SVG and PNG)."""
import io

from firmware.core.errors import HotspotError

SPECIAL = '\\;,:"'                 # what the WIFI: convention escapes with a backslash
AUTH = {"wpa2": "WPA", "wpa3": "SAE"}


def escape(text):
    return "".join("\\" + c if c in SPECIAL else c for c in text)


def join_string(ssid, password, security="wpa2", hidden=False):
    """WIFI:T:WPA;S:<ssid>;P:<password>;; with \\ ; , : " escaped in the name and password."""
    if security not in AUTH:
        raise HotspotError(f"security: one of {', '.join(AUTH)}")
    return f"WIFI:T:{AUTH[security]};S:{escape(ssid)};P:{escape(password)};{'H:true;' if hidden else ''};"


def qr_code(text):
    import segno              # the page and the CLI only: a pedal without it still plays
    # error level M (15 %): a phone reads it off a scratched screen or a printout
    return segno.make_qr(text, error="m", boost_error=False)


def svg(text, scale=6):
    """The code as a standalone SVG document (bytes): dark modules on white, 4 modules quiet zone."""
    out = io.BytesIO()
    qr_code(text).save(out, kind="svg", scale=scale, border=4, dark="#000", light="#fff", xmldecl=False,
                       svgns=True, title="Wi-Fi join code")
    return out.getvalue()


def png(text, scale=8):
    out = io.BytesIO()
    qr_code(text).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def terminal(text, out):
    """Print the code to a terminal (two rows of modules per line of half blocks)."""
    qr_code(text).terminal(out=out, compact=True, border=2)
