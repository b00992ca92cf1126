"""``python -m sports_webhooks [serve | backup DEST | restore SRC | migrate]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from pathlib import Path
import signal
import sys

from aiohttp import web

from .backup import BackupError, backup, restore
from .config import ConfigError, Settings, db_path_from_env, load_settings
from .db import SchemaError, Store


async def serve(app: web.Application, settings: Settings) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then shut down within 5 s.

    ``auto_decompress=False``: aiohttp would otherwise inflate a ``Content-Encoding: deflate``
    or ``gzip`` body in its HTTP parser, before any middleware, handler or key check runs, and
    ``client_max_size`` bounds only the inflated result once it is all in memory (1.5 MB on the
    wire cost ~515 MB). The service takes small JSON: a compressed body is refused with 415 by
    ``app.encoding_middleware``, still compressed, on any aiohttp version.
    """
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5, auto_decompress=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sports_webhooks", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the service (the default)")
    sub.add_parser("migrate", help="create or upgrade the database schema and exit")
    p_backup = sub.add_parser("backup", help="online backup of the database to DEST")
    p_backup.add_argument("dest", type=Path)
    p_restore = sub.add_parser("restore", help="restore SRC into the database (service stopped)")
    p_restore.add_argument("src", type=Path)
    args = parser.parse_args(argv)
    os.umask(0o077)  # the database and its backups hold every signing secret
    db_path = db_path_from_env()
    try:
        if args.command == "backup":
            print(json.dumps(backup(db_path, args.dest)))
            return 0
        if args.command == "restore":
            print(json.dumps(restore(args.src, db_path)))
            return 0
        if args.command == "migrate":
            Store(db_path).close()
            return 0
        settings = load_settings()
    except (BackupError, ConfigError, SchemaError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from .app import make_app

    asyncio.run(serve(make_app(settings), settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
