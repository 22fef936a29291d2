"""The page's Wi-Fi settings: the pedal's own hotspot (name, password, on/off, its join QR
code) and the known networks. This process may not change NetworkManager: it reads the
hotspot's settings (group-readable) and status, and hands each change to the root
tubeless-hotspot service as a request file (firmware/network/requests.py), then waits a
few seconds for its answer. docs/hotspot.md says why.

    GET  /api/hotspot          settings, join string, what the service sees
    GET  /api/hotspot/qr.svg   the join QR code
    POST /api/hotspot          {ssid?, password?, mode?}
    POST /api/hotspot/network  {ssid, password}   a known network
"""
import asyncio
import json
import logging

from aiohttp import web

from firmware.core.errors import HotspotError
from firmware.network import joinqr, requests, settings

log = logging.getLogger(__name__)
ANSWER_S = 8.0                      # the service ticks every second; nmcli load takes a moment
MAX_STATUS = 1 << 16


class HotspotRoutes:
    def __init__(self, cfg, read_body):
        h = cfg["hotspot"]
        self.settings_file, self.status_file, self.requests_dir = h["settings_file"], h["status_file"], h["requests_dir"]
        self.read_body = read_body

    def add_to(self, router):
        router.add_get("/api/hotspot", self.get)
        router.add_get("/api/hotspot/qr.svg", self.qr)
        router.add_post("/api/hotspot", self.change)
        router.add_post("/api/hotspot/network", self.add_network)

    def _status(self):
        try:
            with open(self.status_file, "rb") as f:
                data = json.loads(f.read(MAX_STATUS))
            return data if isinstance(data, dict) else None
        except (OSError, ValueError):
            return None

    async def get(self, request):
        status = self._status()
        public = {k: status.get(k) for k in ("state", "hotspot_up", "stations", "connected", "known", "address",
                                             "mdns", "error")} if status else None
        try:
            s = settings.load(self.settings_file)
        except HotspotError as e:
            return web.json_response({"ok": True, "available": False, "why": str(e), "status": public})
        return web.json_response({"ok": True, "available": True, "ssid": s.ssid, "password": s.password,
                                  "mode": s.mode, "security": s.security,
                                  "join": joinqr.join_string(s.ssid, s.password, s.security), "status": public})

    async def qr(self, request):
        s = settings.load(self.settings_file)
        body = await asyncio.get_running_loop().run_in_executor(
            None, joinqr.svg, joinqr.join_string(s.ssid, s.password, s.security))
        return web.Response(body=body, content_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    async def _ask(self, req):
        rid = requests.submit(req, self.requests_dir)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_S
        while loop.time() < deadline:
            await asyncio.sleep(0.1)
            result = ((self._status() or {}).get("results") or {}).get(rid)
            if result is not None:
                if not result.get("ok"):
                    raise HotspotError(str(result.get("error") or "refused")[:300])
                return web.json_response({"ok": True})
        if requests.withdraw(rid, self.requests_dir):
            return web.json_response({"ok": False, "error": "the hotspot service is not running "
                                      "(sudo systemctl start tubeless-hotspot)"}, status=503)
        return web.json_response({"ok": True, "pending": True})

    async def change(self, request):
        body = await self.read_body(request)
        req = {"op": "set", **{k: body[k] for k in ("ssid", "password", "mode") if k in body}}
        unknown = set(body) - {"ssid", "password", "mode"}
        if unknown:
            raise HotspotError(f"unknown hotspot setting {sorted(unknown)[0]!r}")
        requests.check(req)
        log.info("hotspot change asked: %s", ", ".join(k for k in req if k != "op"))   # names only, no values
        return await self._ask(req)

    async def add_network(self, request):
        body = await self.read_body(request)
        req = requests.check({"op": "add_network", "ssid": body.get("ssid"), "password": body.get("password") or ""})
        log.info("known network asked for")
        return await self._ask(req)
