"""Stand-in for the `influx` CLI (2.7) that the init script drives: keeps buckets, DBRP
mappings, tasks and authorizations in a JSON file and logs every call. Flags it does not know
fail loudly, so a typo in the script fails the test. Output formats follow the real CLI:
tables with --hide-headers (ID first), JSON objects with --json."""

from __future__ import annotations

import json
import os
from pathlib import Path
import secrets
import sys

STATE = Path(os.environ["FAKE_INFLUX_STATE"])
LOG = Path(os.environ["FAKE_INFLUX_LOG"])

KNOWN = {
    ("bucket", "list"): {"--org", "--name", "--hide-headers"},
    ("bucket", "create"): {"--org", "--name", "--retention"},
    ("v1", "dbrp", "list"): {"--org", "--db", "--hide-headers"},
    ("v1", "dbrp", "create"): {"--org", "--db", "--rp", "--bucket-id", "--default"},
    ("task", "list"): {"--org", "--hide-headers"},
    ("task", "create"): {"--org", "--file"},
    ("auth", "create"): {"--org", "--description", "--read-bucket", "--write-bucket", "--json"},
}
FLAGS_WITHOUT_VALUE = {"--hide-headers", "--default", "--json"}


def main(argv: list[str]) -> int:
    command = tuple(a for a in argv[:3] if not a.startswith("-"))
    command = next((c for c in KNOWN if command[: len(c)] == c), command)
    opts: dict[str, list[str]] = {}
    rest = argv[len(command) :]
    i = 0
    while i < len(rest):
        flag = rest[i]
        if command not in KNOWN or flag not in KNOWN[command]:
            print(f"fake influx: unsupported {' '.join(command)} {flag}", file=sys.stderr)
            return 2
        if flag in FLAGS_WITHOUT_VALUE:
            opts.setdefault(flag, []).append("")
            i += 1
        else:
            opts.setdefault(flag, []).append(rest[i + 1])
            i += 2
    state = json.loads(STATE.read_text())
    entry: dict[str, object] = {"command": list(command), "opts": opts}
    one = {k: v[-1] for k, v in opts.items()}
    code = 0
    match command:
        case ("bucket", "list"):
            bucket = state["buckets"].get(one["--name"])
            if bucket is None:
                print(f'Error: bucket "{one["--name"]}" not found', file=sys.stderr)
                code = 1
            else:
                print(
                    f"{bucket['id']}\t{one['--name']}\t{bucket['retention']}\t168h0m0s\torgid\timplicit"
                )
        case ("bucket", "create"):
            bucket = {"id": secrets.token_hex(8), "retention": one["--retention"]}
            state["buckets"][one["--name"]] = bucket
            print(f"ID\tName\n{bucket['id']}\t{one['--name']}")
        case ("v1", "dbrp", "list"):
            for d in state["dbrps"]:
                if d["db"] == one["--db"]:
                    print(
                        f"{d['id']}\t{d['db']}\t{d['bucket_id']}\t{d['rp']}\t{d['default']}\torgid"
                    )
        case ("v1", "dbrp", "create"):
            state["dbrps"].append(
                {"id": secrets.token_hex(8), "db": one["--db"], "rp": one["--rp"],
                 "bucket_id": one["--bucket-id"], "default": "--default" in opts}
            )  # fmt: skip
        case ("task", "list"):
            for t in state["tasks"]:
                print(f"{t['id']}\t{t['name']}\torgid\t{one['--org']}\tactive\t1h\t")
        case ("task", "create"):
            flux = Path(one["--file"]).read_text()
            entry["flux"] = flux
            name = flux.split('name: "', 1)[1].split('"', 1)[0]
            state["tasks"].append({"id": secrets.token_hex(8), "name": name, "flux": flux})
        case ("auth", "create"):
            token = secrets.token_urlsafe(24) + "=="
            state["auths"].append({"description": one["--description"], "token": token,
                                   "read": opts.get("--read-bucket", []),
                                   "write": opts.get("--write-bucket", [])})  # fmt: skip
            print(json.dumps({"id": secrets.token_hex(8), "description": one["--description"],
                              "token": token, "status": "active"}, indent=2))  # fmt: skip
        case _:
            print(f"fake influx: unknown command {command}", file=sys.stderr)
            code = 2
    entry["exit"] = code
    STATE.write_text(json.dumps(state))
    with LOG.open("a") as log:
        log.write(json.dumps(entry) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
