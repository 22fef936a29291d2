"""Joining in one step: the WIFI: join string with its escapes, and its QR code (PNG, the
page's SVG, the terminal's) decoded back by a real decoder, zbarimg (zbar-tools), to the
exact string. Skips the decoding without zbarimg (make test installs it when root)."""
import io
import re
import shutil
import subprocess

import pytest

from firmware.network import joinqr

needs_zbar = pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbarimg not installed (apt-get install zbar-tools)")


def decode(path):
    proc = subprocess.run(["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(path)],
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode("utf-8").removesuffix("\n")


def test_join_string_escapes_the_conventions_specials():
    assert joinqr.join_string("tubeless-ab12", "abcd-efgh") == "WIFI:T:WPA;S:tubeless-ab12;P:abcd-efgh;;"
    assert joinqr.join_string('a;b,c:d"e\\f', "p;w", "wpa3") == 'WIFI:T:SAE;S:a\\;b\\,c\\:d\\"e\\\\f;P:p\\;w;;'


@needs_zbar
@pytest.mark.parametrize("ssid, password", [("tubeless-ab12", "k7qz-m3pd-x9tw-h2rb"),
                                            ('semi;colon, "quoted": back\\slash', 'p;a,s:s"w\\ord'),
                                            ("café ☕ Bühne", "only-ascii-here")])
def test_png_decodes_to_the_exact_join_string(tmp_path, ssid, password):
    join = joinqr.join_string(ssid, password)
    png = tmp_path / "join.png"
    png.write_bytes(joinqr.png(join))
    assert decode(png) == join


@needs_zbar
def test_the_terminal_code_decodes_too(tmp_path):
    """The half-block characters install.sh prints, drawn back into pixels."""
    join = joinqr.join_string("tubeless-ab12", "k7qz-m3pd-x9tw-h2rb")
    out = io.StringIO()
    joinqr.terminal(join, out)
    rows = []
    for line in out.getvalue().splitlines():
        top = [c in "█▀" for c in line]
        bottom = [c in "█▄" for c in line]
        rows += [top, bottom]
    # segno draws light modules as blocks on a terminal (dark background): invert
    width, scale = max(map(len, rows)), 8
    pgm = tmp_path / "terminal.pgm"
    pixels = bytearray()
    for r in rows:
        line = bytearray()
        for x in range(width):
            line += (b"\xff" if x < len(r) and r[x] else b"\x00") * scale
        pixels += bytes(line) * scale
    # a quiet zone of light around it
    pad = 4 * scale
    full_w = width * scale + 2 * pad
    body = b"".join(b"\xff" * pad + pixels[i:i + width * scale] + b"\xff" * pad
                    for i in range(0, len(pixels), width * scale))
    img = b"\xff" * full_w * pad + body + b"\xff" * full_w * pad
    pgm.write_bytes(f"P5 {full_w} {len(rows) * scale + 2 * pad} 255\n".encode() + img)
    assert decode(pgm) == join


def test_svg_is_a_standalone_image_without_scripts():
    svg = joinqr.svg(joinqr.join_string("tubeless-ab12", "k7qz-m3pd-x9tw-h2rb")).decode()
    assert svg.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert not re.search(r"<script|on\w+=|href=", svg)
