"""The web page's server: aiohttp, one process, no state of its own besides the sessions.

Everything it knows about the pedal comes through the control socket (firmware.pedal.control,
docs/processes.md), everything it changes goes through that socket or into the models
folder (firmware.web.files) and the config file (firmware.web.settings). So a crash or a
hang here changes nothing the audio depends on. API (JSON; every change needs the session
cookie and the X-CSRF-Token header):

    POST /api/login {password}        GET /api/session       POST /api/logout
    GET  /api/models[?search=&offset=&limit=]  POST /api/play {file}  POST /api/control {cmd, ...}
    POST /api/upload (multipart)      POST /api/setlist {order}
    POST /api/rename {file, to}       POST /api/delete {file}  POST /api/ir {model, ir}
    GET  /api/settings                POST /api/settings {gate_threshold_db, global_ir, input_gain_db}
    POST /api/password {current, new} GET  /api/events (server-sent events: status, health, models)
    GET  /api/rig (the rig's blocks and parameters, from firmware.dsp.rig: the Play view's controls)
    GET  /api/presets (the banks, the presets and the preset files not played: the Presets view; its
         changes are pedal commands through /api/control, a rig zip an upload)
    GET/POST /api/hotspot, GET /api/hotspot/qr.svg, POST /api/hotspot/network (firmware.web.hotspot)

Its connections go through firmware.web.connections (a cap, per address too, and time
limits on connections that send nothing); every response carries the security headers.
"""
import asyncio
import hmac
import json
import logging
import os
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from firmware.core.config import captures_directory, recordings_directory
from firmware.core.errors import PedalDown
from firmware.dsp import rig
from firmware.ipc import commands, messages
from firmware.presets.store import presets_directory
from firmware.web import connections, wording
from firmware.web.auth import LoginLimiter, PasswordChecks, PasswordError, Sessions, check_password, write_password
from firmware.web.files import FileError, ModelsFolder, UnpackBudget, clean_name, is_rig, kind_of, limit_of
from firmware.web.recordings import CapturesFolder, RecordingsFolder, ZipStream
from firmware.web.health import Health
from firmware.web.hotspot import HotspotRoutes
from firmware.web.pedallink import ControlPool, Library, Recent
from firmware.web.settings import ConfigEdit, SettingsError, gain_control, set_input_gain

log = logging.getLogger(__name__)
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
COOKIE = "tubeless_session"
CHANGES = ("POST", "PUT", "PATCH", "DELETE")
PUBLIC = ("/api/login", "/api/session")
BODY_S = 10.0                # a JSON body (64 KiB at most) must arrive within this
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")


def rig_table(tonestack_position="post"):
    """The rig's blocks in chain order, each with its parameters, for the page to build its
    controls from (so a new block shows without touching the page). `position`: before the
    amp model ("pre") or after it ("post"), as firmware.dsp.rig.Rig orders them."""
    pre = rig.positions(tonestack_position)[0]
    short = rig.SHORT
    tap_block, _, tap_param = rig.TAP_PARAM.partition(".")
    out = []
    for b in rig.BLOCKS:
        out.append({"name": b.NAME, "on": bool(b.DEFAULT_ON), "position": "pre" if b.NAME in pre else "post",
                    "tap": tap_param if b.NAME == tap_block else None,
                    "params": [{"name": p.name, "control": f"{b.NAME}.{p.name}", "short": short.get(f"{b.NAME}.{p.name}"),
                                "lo": p.lo, "hi": p.hi, "default": p.default, "unit": p.unit, "doc": p.doc}
                               for p in b.PARAMS]})
    return out


def security_headers(request, resp):
    """On every response: the app's (through on_response_prepare: the guard's refusals, aiohttp's
    404 and 500 included) and the ones aiohttp makes up for a request it cannot parse."""
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    # same-origin: no referrer to other sites, and the page's own changes carry their real
    # Origin (with no-referrer a browser may send "Origin: null", which the guard refuses)
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    if request.path.startswith("/api/"):
        resp.headers.setdefault("Cache-Control", "no-store")


def _json_error(status, text):
    return web.json_response({"ok": False, "error": text}, status=status)


class WebApp:
    def __init__(self, cfg, config_path=None, password_file=None):
        self.cfg = cfg
        self.config_path = config_path
        w = cfg["web"]
        self.password_file = password_file or w["password_file"]
        self.max_upload = int(float(w["max_upload_mb"]) * (1 << 20))
        self.sessions = Sessions(lifetime_s=float(w["session_hours"]) * 3600)
        self.limiter = LoginLimiter()
        self.checks = PasswordChecks()
        self.conns = connections.ConnectionGuard()
        self.ctl = ControlPool(cfg["control"]["socket"])      # a few connections, kept open
        self.library = Library(self.ctl)                       # whole, fetched again when it changes
        self.live_status = Recent(lambda: self.ctl(commands.request("status")))   # shared by the open pages
        self._sent_models = None                               # (revision, the encoded event)
        self.folder = ModelsFolder(cfg["models"]["directory"], cfg["models"].get("ir_max_ms", 500.0),
                                   presets_directory(cfg))
        # the banks and presets, shared by the open pages (the pedal reads its folder for each)
        self.presets_listing = Recent(self._presets_now, max_age=1.0)
        self.health = Health()
        self.recordings = RecordingsFolder(recordings_directory(cfg))
        self.captures = CapturesFolder(captures_directory(cfg))

    # --- plumbing -----------------------------------------------------------------------
    def app(self):
        app = web.Application(middlewares=[self.guard], client_max_size=64 * 1024)
        app.on_response_prepare.append(self._headers)
        r = app.router
        r.add_get("/", self.page)
        r.add_static("/static/", STATIC, append_version=False)
        r.add_post("/api/login", self.login)
        r.add_get("/api/session", self.session_info)
        r.add_post("/api/logout", self.logout)
        r.add_get("/api/models", self.models)
        r.add_post("/api/play", self.play)
        r.add_post("/api/control", self.control)
        r.add_post("/api/upload", self.upload)
        r.add_post("/api/setlist", self.setlist)
        r.add_post("/api/rename", self.rename)
        r.add_post("/api/delete", self.delete)
        r.add_post("/api/ir", self.ir)
        r.add_get("/api/settings", self.settings)
        r.add_post("/api/settings", self.change_settings)
        r.add_post("/api/password", self.password)
        r.add_get("/api/events", self.events)
        r.add_get("/api/rig", self.rig_blocks)
        r.add_get("/api/presets", self.presets)
        r.add_get("/api/recordings", self.recordings_list)
        r.add_get("/api/recordings/{name}/{file}", self.recording_file)
        r.add_post("/api/recordings/delete", self.recording_delete)
        r.add_get("/api/captures", self.captures_list)
        r.add_get("/api/captures/{name}.zip", self.capture_zip)
        r.add_get("/api/captures/{name}/{file}", self.capture_file)
        r.add_post("/api/captures/delete", self.capture_delete)
        HotspotRoutes(self.cfg, self._body).add_to(r)        # the pedal's own Wi-Fi (docs/hotspot.md)
        return app

    def _session(self, request):
        token = request.cookies.get(COOKIE)
        return token, self.sessions.csrf(token)

    @web.middleware
    async def guard(self, request, handler):
        transport = request.transport
        self.conns.request_started(transport)          # a connection with a request running stays open
        try:
            return await self._guarded(request, handler)
        finally:
            self.conns.request_ended(transport)

    async def _guarded(self, request, handler):
        path = request.path
        if request.method in CHANGES:
            origin = request.headers.get("Origin")
            # "null" is what a sandboxed frame or a file:// page sends: never this page
            if origin is not None and (origin == "null" or urlsplit(origin).netloc != request.host):
                return _json_error(403, "a change from another site's page")
        if path.startswith("/api/") and path not in PUBLIC:
            token, csrf = self._session(request)
            if csrf is None:
                return _json_error(401, "not logged in")
            if request.method in CHANGES:
                sent = request.headers.get("X-CSRF-Token", "")
                if not hmac.compare_digest(sent.encode(), csrf.encode()):
                    return _json_error(403, "missing or wrong CSRF token (reload the page)")
        try:
            return await handler(request)
        except PedalDown as e:
            return _json_error(503, wording.scrub(str(e)))
        except (FileError, SettingsError, messages.MessageError, PasswordError) as e:
            return _json_error(400, wording.scrub(str(e)))      # a player's mistake: no server path
        except OSError as e:                 # a full disk, a permission: one line on the page
            log.warning("%s %s: %s", request.method, path, e)
            return _json_error(500, f"{os.path.basename(e.filename or '') or path}: {e.strerror or e}")
        except web.HTTPException as e:
            if e.status < 400 or not path.startswith("/api/"):
                raise                        # aiohttp answers it (the headers come from _headers)
            resp = _json_error(e.status, e.reason)
            for k in ("Allow", "Retry-After"):
                if k in e.headers:
                    resp.headers[k] = e.headers[k]
            return resp
        except Exception as e:  # noqa: BLE001 - a bug: one line in the log and on the page, no traceback out
            log.error("%s %s: %s: %s", request.method, path, type(e).__name__, e)
            return _json_error(500, "the web page failed on this request (the pedal's log has the details)")

    async def _headers(self, request, resp):
        security_headers(request, resp)

    async def _body(self, request):
        if request.content_type != "application/json":
            raise FileError("expected a JSON body")
        try:
            body = await asyncio.wait_for(request.json(), BODY_S)
        except TimeoutError:
            raise FileError("the request came too slowly") from None
        except (ValueError, UnicodeDecodeError):
            raise FileError("not JSON") from None
        if not isinstance(body, dict):
            raise FileError("expected a JSON object")
        return body

    async def _ok(self, msg):
        reply = await self.ctl(msg)
        self.live_status.forget()            # the next status shows the change
        self.library.forget()
        self.presets_listing.forget()
        if not reply.get("ok"):
            return _json_error(400, wording.scrub(reply.get("error") or "refused"))     # no server path
        return web.json_response(reply)

    # --- pages and sessions -------------------------------------------------------------
    async def page(self, request):
        return web.FileResponse(os.path.join(STATIC, "index.html"), headers={"Cache-Control": "no-store"})

    def _too_many(self, wait):
        return web.json_response({"ok": False, "error": f"too many wrong passwords: try again in {wait:.0f} s"},
                                 status=429, headers={"Retry-After": str(int(wait) + 1)})

    async def _check(self, addr, password, stored):
        """One password check, counted by the limiter before it runs: (refusal, None) when it
        may not run, else (None, whether the password is right)."""
        if self.checks.full():
            return web.json_response({"ok": False, "error": "busy checking passwords: try again in a second"},
                                     status=503, headers={"Retry-After": "1"}), None
        wait = self.limiter.begin(addr)              # checked and counted together, before any await
        if wait > 0:
            return self._too_many(wait), None
        ok = False
        try:
            ok = isinstance(password, str) and len(password) <= 256 and \
                await self.checks.run(check_password, password, stored)
        finally:
            self.limiter.done(addr, ok)
        return None, ok

    async def login(self, request):
        addr = request.remote or "?"
        wait = self.limiter.wait_s(addr)
        if wait > 0:                                  # turned away before its body is read
            return self._too_many(wait)
        body = await self._body(request)
        try:
            with open(self.password_file, encoding="utf-8") as f:
                stored = f.read()
        except OSError:
            return _json_error(503, "no password is set: run `tubeless web --new-password` on the pedal")
        refusal, ok = await self._check(addr, body.get("password"), stored)
        if refusal is not None:
            return refusal
        if not ok:
            log.warning("wrong password from %s", addr)
            return _json_error(403, "wrong password")
        token, csrf = self.sessions.new()
        resp = web.json_response({"ok": True, "csrf": csrf})
        resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/",
                        max_age=int(self.sessions.lifetime_s))
        return resp

    async def session_info(self, request):
        _, csrf = self._session(request)
        if csrf is None:
            return _json_error(401, "not logged in")
        return web.json_response({"ok": True, "csrf": csrf})

    async def logout(self, request):
        token, _ = self._session(request)
        self.sessions.drop(token)
        resp = web.json_response({"ok": True})
        resp.del_cookie(COOKIE, path="/")
        return resp

    async def password(self, request):
        body = await self._body(request)
        token, _ = self._session(request)
        try:
            with open(self.password_file, encoding="utf-8") as f:
                stored = f.read()
        except OSError:
            stored = ""
        current, new = body.get("current"), body.get("new")
        refusal, ok = await self._check(request.remote or "?", current, stored)
        if refusal is not None:
            return refusal
        if not ok:
            return _json_error(403, "the current password is wrong")
        if not isinstance(new, str):
            raise PasswordError("no new password")
        await self.checks.run(write_password, self.password_file, new)
        self.sessions.drop_all_but(token)          # other phones log in again
        log.info("password changed")
        return web.json_response({"ok": True})

    # --- models -------------------------------------------------------------------------
    async def _library(self):
        lib = await self.library()
        status = await self.live_status()
        return {"ok": True, "models": lib["models"], "rejected": wording.rejected(lib["rejected"]),
                "library_error": wording.scrub(lib["library_error"]) or None, "irs": self.folder.ir_library(),
                "status": status.get("status", {}), "rate": self.cfg["audio"]["rate"]}

    async def models(self, request):
        """The whole library; with `?search=`, `offset=`, `limit=`: that page of it, searched by
        the pedal (firmware.pedal.listing), so a phone need not take thousands to show ten."""
        q = request.query
        if not any(k in q for k in ("search", "offset", "limit")):
            return web.json_response(await self._library())
        args = {"search": q.get("search", "")}
        for k in ("offset", "limit"):
            if k in q:
                try:
                    args[k] = int(q[k])
                except ValueError:
                    raise messages.MessageError(f"models: '{k}' must be a whole number") from None
        reply = await self.ctl(commands.request("models", **args))
        if not reply.get("ok"):
            return _json_error(400, reply.get("error", "refused"))
        reply["rejected"] = wording.rejected(reply.get("rejected", []))
        return web.json_response(reply)

    async def play(self, request):
        body = await self._body(request)
        name = self.folder.model(body.get("file"))
        return await self._ok(commands.request("select", name=name))

    async def control(self, request):
        body = await self._body(request)
        if body.get("cmd") not in commands.PAGE_COMMANDS:     # the page's buttons, from the command table
            raise messages.MessageError(f"unknown control {body.get('cmd')!r}")
        return await self._ok(commands.check_control(body))

    async def _presets_now(self):
        reply = await self.ctl(commands.request("presets"))
        if not reply.get("ok"):
            raise PedalDown(f"the pedal refused the presets request: {wording.scrub(reply.get('error'))}")
        return {"ok": True, "banks": reply["banks"], "presets": reply["presets"],
                "errors": [{"file": e.get("file"), "error": wording.scrub(e.get("error"))} for e in reply["errors"]],
                "preset": reply["preset"], "bank": reply["bank"], "snapshot": reply["snapshot"]}

    async def presets(self, request):
        return web.json_response(await self.presets_listing())

    async def rig_blocks(self, request):
        return web.json_response({"ok": True, "blocks": rig_table(self.cfg["tone"].get("tonestack_position", "post"))})

    async def setlist(self, request):
        body = await self._body(request)
        order = body.get("order")
        if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
            raise FileError("order: a list of file names")
        return web.json_response({"ok": True, "order": self.folder.write_setlist(order)})

    async def rename(self, request):
        body = await self._body(request)
        to = self.folder.rename(body.get("file"), body.get("to"))
        log.info("renamed %s to %s", body.get("file"), to)
        return web.json_response({"ok": True, "file": to})

    async def delete(self, request):
        body = await self._body(request)
        self.folder.delete(body.get("file"))
        log.info("deleted %s", body.get("file"))
        return web.json_response({"ok": True})

    # --- recordings of what was played (firmware.pedal.recorder) --------------------------
    async def recordings_list(self, request):
        found, total = await asyncio.get_running_loop().run_in_executor(None, self.recordings.list)
        return web.json_response({"ok": True, "recordings": found, "total": total})

    async def recording_file(self, request):
        """One file of a recording, as a download (the WAVs stream from the disk)."""
        name, file = request.match_info["name"], request.match_info["file"]
        path = self.recordings.file(name, file)
        return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{name}-{file}"'})

    async def recording_delete(self, request):
        body = await self._body(request)
        try:
            now = (await self.live_status())["status"].get("record") or {}
        except PedalDown:
            now = {}
        self.recordings.delete(body.get("name"), now.get("name") if now.get("on") else None)
        log.info("deleted the recording %s", body.get("name"))
        return web.json_response({"ok": True})

    # --- captures of an amp (firmware.pedal.capturing, tubeless capture) ------------------
    async def captures_list(self, request):
        found, total = await asyncio.get_running_loop().run_in_executor(None, self.captures.list)
        return web.json_response({"ok": True, "captures": found, "total": total})

    async def capture_file(self, request):
        """One file of a capture: the page's player streams a take from it (Range requests)."""
        name, file = request.match_info["name"], request.match_info["file"]
        return web.FileResponse(self.captures.file(name, file),
                                headers={"Content-Disposition": f'inline; filename="{name}-{file}"'})

    async def capture_zip(self, request):
        """The whole folder as one zip, streamed as it is made: what `tubeless-train fit` takes."""
        name = request.match_info["name"]
        members = self.captures.members(name)
        resp = web.StreamResponse(headers={"Content-Type": "application/zip",
                                           "Content-Disposition": f'attachment; filename="{name}.zip"'})
        await resp.prepare(request)
        stream = ZipStream(members).start()
        loop = asyncio.get_running_loop()
        try:
            while (chunk := await loop.run_in_executor(None, stream.next_chunk)) is not None:
                await resp.write(chunk)
        finally:
            stream.cancel()
        await resp.write_eof()
        return resp

    async def capture_delete(self, request):
        body = await self._body(request)
        self.captures.delete(body.get("name"))
        log.info("deleted the capture %s", body.get("name"))
        return web.json_response({"ok": True})

    async def ir(self, request):
        body = await self._body(request)
        target = self.folder.attach_ir(body.get("model"), body.get("ir") or "")
        return web.json_response({"ok": True, "ir_file": target})

    async def upload(self, request):
        """Files stream to temporary names in the folder (the librarian ignores them), each
        within its type's limit and all within max_upload_mb; then each is renamed into
        place and the librarian checks it like any file copied in; a rig zip is imported
        whole (ModelsFolder.import_rig) within the same budget. The reply lists every file:
        "checking" (the page then follows it in /api/models), "stored" or "refused"."""
        if request.content_length is not None and request.content_length > self.max_upload:
            return _json_error(413, f"an upload of at most {self.max_upload >> 20} MB at once")
        try:
            reader = await request.multipart()
        except (AssertionError, ValueError, KeyError):
            raise FileError("expected a multipart upload") from None
        total, temps, done, results, rigs = 0, [], [], [], []
        unpack = UnpackBudget(self.max_upload)     # all the zips' members together, every byte written
        loop = asyncio.get_running_loop()
        try:
            async for part in reader:
                if part.filename is None:
                    await part.release()
                    continue
                try:
                    name = clean_name(part.filename, folders=True)
                    kind = kind_of(name)
                except FileError as e:
                    results.append({"file": str(part.filename)[:120], "status": "refused", "error": str(e)})
                    await part.release()
                    continue
                f, tmp = self.folder.temp()
                temps.append(tmp)
                n, limit, too_big = 0, limit_of(kind), False
                with f:
                    while chunk := await part.read_chunk(1 << 16):
                        n += len(chunk)
                        total += len(chunk)
                        if total > self.max_upload:
                            return _json_error(413, f"an upload of at most {self.max_upload >> 20} MB at once")
                        if n > limit:
                            too_big = True
                            continue                   # read on to the next part, keep nothing
                        f.write(chunk)
                if too_big or n == 0:
                    results.append({"file": name, "status": "refused",
                                    "error": f"larger than the {limit >> 20} MB limit" if too_big else "empty file"})
                    continue
                if kind == "zip":
                    try:
                        if await loop.run_in_executor(None, is_rig, tmp, name):
                            rigs.append((tmp, name))          # imported once the whole upload arrived
                            continue
                        members, refused = await loop.run_in_executor(None, self.folder.expand_zip, tmp, name,
                                                                      unpack)
                    except FileError as e:
                        results.append({"file": name, "status": "refused", "error": str(e)})
                        continue
                    temps += [m[1] for m in members]
                    done += members
                    results += [{"file": label, "status": "refused", "error": why} for label, why in refused]
                else:
                    done.append((name, tmp, name))
            for tmp, name in rigs:                  # a shared rig: all of it or nothing, in the same budget
                try:
                    results += await loop.run_in_executor(None, self.folder.import_rig, tmp, name, unpack)
                except FileError as e:
                    results.append({"file": name, "status": "refused", "error": str(e)})
            if rigs:
                self.presets_listing.forget()
            results += await loop.run_in_executor(None, self.folder.settle_upload, done)    # reads the IRs
        except (ValueError, HttpProcessingError) as e:      # a malformed multipart body: nothing kept
            raise FileError(f"a malformed upload ({getattr(e, 'message', None) or e})".splitlines()[0][:200]) from None
        finally:
            for t in temps:
                if os.path.exists(t):
                    os.unlink(t)
        for r in results:
            log.info("upload %s: %s%s", r["file"], r["status"], f" ({r['error']})" if r.get("error") else "")
        return web.json_response({"ok": True, "results": results})

    # --- settings -----------------------------------------------------------------------
    def _current_config(self):
        from firmware.core.config import ConfigError, load_config
        try:
            return load_config(self.config_path)
        except ConfigError:
            return self.cfg

    async def settings(self, request):
        cfg = self._current_config()
        ir = cfg["models"].get("ir") or ""
        found = gain_control()
        gain = {"available": found[0] is not None, "why": found[1] if found[0] is None else None,
                "db": cfg["web"].get("input_gain_db"), "card": found[0]}
        if found[0] is not None:
            gain["range"] = found[3]
        gate = cfg["tone"]["gate_threshold_db"]
        try:
            pots = (await self.ctl(commands.request("status")))["status"].get("pots", {})
            gate = pots.get("gate", gate)
        except PedalDown:
            pass
        return web.json_response({"ok": True, "gate_threshold_db": gate,
                                  "global_ir": os.path.basename(ir) if ir else "", "global_ir_path": ir,
                                  "irs": self.folder.ir_library(), "input_gain": gain,
                                  "config": self.config_path, "port": cfg["web"]["port"]})

    def _config_edit(self):
        if not self.config_path:
            raise SettingsError("no config file to save into (start `tubeless web --config FILE`)")
        return ConfigEdit(self.config_path)

    def _pedal_step(self, msg):
        async def apply():
            reply = await self.ctl(msg)
            return None if reply.get("ok") else wording.scrub(reply.get("error") or "refused by the pedal")
        return apply

    @staticmethod
    def _gain_step(db):
        async def apply():
            try:
                await asyncio.get_running_loop().run_in_executor(None, set_input_gain, db)
            except SettingsError as e:
                return str(e)
            return None
        return apply

    async def change_settings(self, request):
        """Every setting is checked before any is applied: its value, the IR as the pedal will
        read it, and that the config file can hold it (a name TOML could not store is refused
        before the pedal takes it). Then each goes to the pedal (or the mixer) in turn, and
        only what was applied is saved, so the pedal and its config never disagree; a refusal
        stops there and is answered in the pedal's words, with what was saved before it."""
        body = await self._body(request)
        steps = []              # (reply key, reply value, config section, config key, config value, apply)
        if "gate_threshold_db" in body:
            msg = commands.request("set", param="gate", value=body["gate_threshold_db"])
            steps.append(("gate_threshold_db", msg["value"], "tone", "gate_threshold_db", msg["value"],
                          self._pedal_step(msg)))
        if "global_ir" in body:
            name = body["global_ir"] or ""
            if name:
                name = await asyncio.get_running_loop().run_in_executor(None, self.folder.usable_ir, name)
            steps.append(("global_ir", name, "models", "ir", os.path.join(self.folder.irs, name) if name else "",
                          self._pedal_step(commands.request("global_ir", file=name))))
        if "input_gain_db" in body:
            db = body["input_gain_db"]
            if isinstance(db, bool) or not isinstance(db, (int, float)) or db != db:
                raise SettingsError("input gain: a number of dB")
            steps.append(("input_gain_db", float(db), "web", "input_gain_db", float(db), self._gain_step(float(db))))
        edit = self._config_edit()
        for *_, section, key, value, _apply in steps:
            edit.set(section, key, value)           # refused here, before anything is applied
        saved, applied, refusal = {}, self._config_edit(), None
        for reply_key, reply_value, section, key, value, apply in steps:
            refusal = await apply()
            if refusal is not None:
                break
            applied.set(section, key, value)
            saved[reply_key] = reply_value
        if saved:
            await asyncio.get_running_loop().run_in_executor(None, applied.write)
        log.info("settings saved: %s%s", saved, f" (then refused: {refusal})" if refusal else "")
        if refusal is not None:
            return web.json_response({"ok": False, "error": refusal, "saved": saved}, status=400)
        return web.json_response({"ok": True, "saved": saved})

    # --- live ---------------------------------------------------------------------------
    def _models_event(self, m):
        """(what it shows, the `models` event as bytes): encoded once per library revision and
        IR list, not once per open page (thousands of models are half a megabyte)."""
        irs = self.folder.ir_library()
        key = (m["revision"], json.dumps(irs))
        if self._sent_models is None or self._sent_models[0] != key:
            lib = {"models": m["models"], "rejected": wording.rejected(m["rejected"]),
                   "library_error": wording.scrub(m["library_error"]) or None, "irs": irs}
            self._sent_models = (key, sse("models", lib))
        return self._sent_models

    async def events(self, request):
        """Server-sent events while the page is open: `status` twice a second, `health`
        every 2 s, `models` when the library changes, `presets` when the banks, presets or
        what plays of them change (looked at once a second), `pitch` ten times a second while
        the tuner is on. Ends with the session."""
        token, _ = self._session(request)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        last_models, last_presets, tick, tuning = None, None, 0, False
        try:
            while self.sessions.csrf(token) is not None:
                out = []
                try:
                    st = (await self.live_status())["status"]
                    out.append(("status", st))
                    tuning = bool(st.get("tuner"))
                    if tick % 4 == 0:
                        key, event = self._models_event(await self.library())
                        if key != last_models:
                            last_models = key
                            out.append(event)
                    if tick % 2 == 0:
                        listing = await self.presets_listing()      # read at most once a second
                        encoded = sse("presets", listing)
                        if encoded != last_presets:                # sent when it changed
                            last_presets = encoded
                            out.append(encoded)
                except PedalDown as e:
                    out.append(("down", {"error": str(e)}))
                    last_models = last_presets = None
                if tick % 4 == 0:
                    out.append(("health", self.health.read()))
                for item in out:
                    await resp.write(item if isinstance(item, bytes) else sse(*item))
                tick += 1
                if tuning:                       # the needle: ten readings a second while tuning
                    for _ in range(4):
                        await asyncio.sleep(0.1)
                        try:
                            out = await self.ctl(commands.request("pitch"))
                        except PedalDown:
                            break
                        await resp.write(f"event: pitch\ndata: {json.dumps(out)}\n\n".encode())
                    await asyncio.sleep(0.1)
                else:
                    await asyncio.sleep(0.5)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp


def sse(name, data):
    """One server-sent event."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def serve(cfg, config_path=None, host=None, port=None, password_file=None, ready=None):
    """Run the web page until SIGTERM / Ctrl-C."""
    w = WebApp(cfg, config_path, password_file)
    host = host or cfg["web"]["host"]
    port = int(port if port is not None else cfg["web"]["port"])
    gain = cfg["web"].get("input_gain_db")
    if isinstance(gain, (int, float)) and not isinstance(gain, bool):
        try:                            # the web service owns the HAT's gain: set it again at boot
            set_input_gain(float(gain))
        except SettingsError as e:
            log.info("input gain %s dB not set: %s", gain, e)

    async def started(app):
        log.info("web page on http://%s:%d/ (models: %s, pedal: %s)", host, port, cfg["models"]["directory"],
                 cfg["control"]["socket"])
        if ready is not None:
            ready()

    app = w.app()
    app.on_startup.append(started)
    # the live streams end with their sessions: the stop does not wait for them
    asyncio.run(connections.run(app, host, port, w.conns, before_stop=lambda: w.sessions.drop_all_but(None),
                                error_headers=security_headers))
    return 0
