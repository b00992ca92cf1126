"""``python -m sports_webhooks [serve | backup DEST | restore SRC | migrate]``."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
import sys

from aiohttp import web

from .backup import BackupError, backup, restore
from .config import ConfigError, db_path_from_env, load_settings
from .db import SchemaError, Store


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

    web.run_app(
        make_app(settings),
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,
        shutdown_timeout=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
