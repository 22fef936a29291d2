"""The pedal's own Wi-Fi (docs/hotspot.md): NetworkManager profiles (keyfile), the join
QR code, the hotspot's settings, the fallback between a known network and the access point
(a pure state machine), the nmcli adapter it drives, and the page's change requests.
Imported by the web page and the tools; it imports only core/."""
