// The Settings view's Wi-Fi part (firmware/web/hotspot.py): the hotspot's QR code, name,
// password and mode, and the known networks. Uses app.js's api(), toast() and $().
"use strict";
const hotspotText = h => {
  const st = h.status;
  if (!st) return "the hotspot service is not running";
  if (st.hotspot_up) return `hotspot on: ${st.stations ?? "?"} phone(s) joined; the page is at http://${st.address}/ and http://${st.mdns}/`;
  if (st.connected) return `on ${st.connected}; the hotspot starts when no known network is there`;
  return st.error || "looking for a known network";
};

function showHotspotStatus(h) {
  $("#hotspot-state").textContent = h.available ? hotspotText(h) : h.why;
  const list = $("#known-networks"); list.textContent = "";
  ((h.status && h.status.known) || []).forEach(n => {
    const li = document.createElement("li"); li.textContent = n; list.append(li);
  });
}

// what the service sees changes by itself (phones join, a network appears): followed while
// Settings is open, without touching what the player is typing
setInterval(async () => {
  if (!csrf || $("#view-settings").hidden || !$("#hotspot-form").dataset.loaded) return;
  try { showHotspotStatus(await api("/api/hotspot")); } catch (e) { /* shown on the next action */ }
}, 3000);

async function loadHotspot() {
  if (!csrf) return;
  try {
    const h = await api("/api/hotspot");
    const form = $("#hotspot-form");
    showHotspotStatus(h);
    form.querySelectorAll("input, select, button").forEach(e => { e.disabled = !h.available; });
    if (h.available) {
      $("#hotspot-mode").value = h.mode; $("#hotspot-ssid").value = h.ssid; $("#hotspot-password").value = h.password;
      $("#hotspot-join").textContent = `${h.ssid} · ${h.password}`;
      const qr = $("#hotspot-qr");
      qr.src = "/api/hotspot/qr.svg?t=" + Date.now();    // fresh after a change; never the password in a URL
      qr.hidden = false;
    }
    form.dataset.loaded = "1";
  } catch (e) { toast(e.message); }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll('#tabs button[data-view="settings"]').forEach(b => b.addEventListener("click", loadHotspot));
  if (location.hash === "#settings") setTimeout(loadHotspot, 500);    // reloaded on Settings: after login
  $("#hotspot-form").onsubmit = attempt(async e => {
    e.preventDefault(); $("#hotspot-msg").textContent = "";
    const r = await api("/api/hotspot", { mode: $("#hotspot-mode").value, ssid: $("#hotspot-ssid").value,
                                         password: $("#hotspot-password").value });
    $("#hotspot-msg").textContent = r.pending ? "asked; the hotspot service is busy" : "saved";
    await loadHotspot();
  });
  $("#network-form").onsubmit = attempt(async e => {
    e.preventDefault(); $("#network-msg").textContent = "";
    await api("/api/hotspot/network", { ssid: $("#network-ssid").value, password: $("#network-password").value });
    $("#network-ssid").value = $("#network-password").value = "";
    $("#network-msg").textContent = "added: the pedal joins it whenever it is in range";
    await loadHotspot();
  });
});
