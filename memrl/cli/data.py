"""``memrl data``: where the data folder is, and ``download {locomo,hotpotqa}`` into it."""

from __future__ import annotations

import argparse
import os

from memrl.data.download import DATASETS, download
from memrl.data.paths import data_folder, where


def _cmd_download(args: argparse.Namespace) -> int:
    spec = DATASETS[args.name]
    if args.source_file is None:
        print(f"fetching {spec.url}", flush=True)
    target, summary = download(args.name, args.data_dir, args.source_file)
    print(f"{args.name}: {summary}")
    print(f"saved {target}")
    print(f"license: {spec.license}; see {spec.homepage}")
    if args.data_dir and not os.environ.get("MEMRL_DATA"):
        print(f"envs read it with data_dir={args.data_dir!r} (env kwargs) or MEMRL_DATA={args.data_dir}")
    return 0


def _cmd_where(args: argparse.Namespace) -> int:
    print(f"data folder: {where(args.data_dir)}")
    for spec in DATASETS.values():
        file = data_folder(args.data_dir) / spec.target
        print(f"  {spec.name}: {file if file.is_file() else 'absent (memrl data download ' + spec.name + ')'}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="get the public data sets (LoCoMo, HotpotQA) into the data folder",
                       description="The data folder is --data-dir, else $MEMRL_DATA, else ~/.cache/memrl/data "
                                   "(under $MEMRL_CACHE when set).")
    data = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    d = data.add_parser("download", help="fetch a data set, check it and save it in the data folder",
                        description="Fetch a public data set, check its counts, save it where the envs look, print its license.")
    d.add_argument("name", choices=sorted(DATASETS), help="locomo (CC BY-NC 4.0) or hotpotqa (dev distractor, CC BY-SA 4.0)")
    d.add_argument("--data-dir", default=None, help="the data folder (default: $MEMRL_DATA, else ~/.cache/memrl/data)")
    d.add_argument("--from", dest="source_file", default=None, metavar="FILE",
                   help="check and install a copy you fetched elsewhere instead of downloading (offline machines)")
    d.set_defaults(func=_cmd_download)
    w = data.add_parser("where", help="print the data folder and which data sets it holds")
    w.add_argument("--data-dir", default=None, help="the data folder (default: $MEMRL_DATA, else ~/.cache/memrl/data)")
    w.set_defaults(func=_cmd_where)
