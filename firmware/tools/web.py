"""`tubeless web`: the pedal's web page (docs/web.md)."""
import os
import sys

from firmware.core.errors import UserError


def register(sub):
    p = sub.add_parser("web", help="serve the pedal's web page: models, uploads, controls, health, settings",
                       description="The pedal's web page, in a process of its own (the tubeless-web service). "
                                   "It talks to the running pedal through its control socket only.")
    p.add_argument("--config", help="the pedal's TOML config (settings are saved into it)")
    p.add_argument("--host", help="address to listen on (default: [web] host)")
    p.add_argument("--port", type=int, help="port (default: [web] port)")
    p.add_argument("--password-file", help="default: [web] password_file")
    p.add_argument("--new-password", action="store_true",
                   help="make a new random password, store its hash, print it, and exit")
    p.add_argument("--set-password", action="store_true",
                   help="read a new password from the first line of standard input, store its hash, and exit")
    p.set_defaults(func=cmd_web)


def cmd_web(args):
    from firmware.core.config import ConfigError, load_config
    from firmware.web.auth import PasswordError, new_password, write_password
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        raise UserError(str(e)) from None
    password_file = args.password_file or cfg["web"]["password_file"]
    if args.new_password or args.set_password:
        password = new_password() if args.new_password else sys.stdin.readline().rstrip("\r\n")
        try:
            write_password(password_file, password)
        except PasswordError as e:
            raise UserError(str(e)) from None
        if args.new_password:
            print(password)
        return 0
    if not os.path.isfile(password_file):
        raise UserError(f"{password_file}: no password set (run `tubeless web --new-password`)")
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise UserError("the web page needs aiohttp (pip install aiohttp)") from None
    from firmware.web.app import serve
    return serve(cfg, config_path=os.path.abspath(args.config) if args.config else None, host=args.host,
                 port=args.port, password_file=password_file)
