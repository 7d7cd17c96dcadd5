"""The settings a recipe conf (egs/<recipe>/conf.sh) may set, stage by stage, and the bridge run.sh uses to
turn a conf into each stage script's options.

Every setting is a field of the dataclass that uses it (see valle/utils/settings.py); this table says which
dataclass each stage script takes. run.sh passes a stage only the settings its conf set, so every default
has exactly one home. A conf name that no stage knows is an error (a typo never silently falls back to a
default), and so is a value that does not parse.

    python -m valle.conf check NAME=VALUE ...               # exit 1 naming unknown names / bad values
    python -m valle.conf options [--model ar] GROUP NAME=VALUE ...   # the group's options, NUL-separated
    python -m valle.conf table [--write README.md]          # every setting, as the README's table

Besides the stages' settings, a conf sets the recipe's layout, which run.sh reads itself: RECIPE_NAMES
and, for each corpus in ``corpora``, the CORPUS_FIELDS: ``<corpus>_dir``, ``<corpus>_parts``, ``<corpus>_prepare``,
``<corpus>_split`` and ``<corpus>_unknown_speaker``.
"""
import argparse
import difflib
import importlib
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from valle.utils.io import write_text_atomic
from valle.utils.settings import Setting, format_value, parse_value, settings_of


# Read by run.sh itself (see egs/template/conf.sh): which corpora, and the role of each part.
RECIPE_NAMES = ("corpus_source", "corpora", "labeled_train_parts", "unlabeled_parts", "dev_parts", "test_parts",
                "tts_train_parts", "train_nproc", "cmd", "lm_dir", "lm_files", "lm_base_url")
CORPUS_FIELDS = ("dir", "parts", "prepare", "split", "unknown_speaker")   # <corpus>_dir, <corpus>_parts, ...


class Group(NamedTuple):
    cls_path: str       # "module:Class"
    prefix: str         # prefix of every conf name of the group (the script's options have it too)
    stage: str          # which stage reads it
    script: str         # the stage script whose options they are
    variants: Tuple[str, ...] = ()  # "<variant>_<name>" sets a name for one variant only (training: ar, nar)


GROUPS: Dict[str, Group] = {
    "mini": Group("valle.corpus.mini.config:MiniCorpusConfig", "mini_", "stage 0, egs/mini", "local/make_mini_corpus.py"),
    "lang": Group("valle.text.config:LangConfig", "", "stage 2", "local/prepare_lang.py"),
    "align": Group("valle.align.config:AlignConfig", "", "stage 3", "local/align.py"),
    "codec": Group("valle.codec.config:CodecConfig", "codec_", "stage 4", "local/prepare_codec.py"),
    "tokenize": Group("valle.codec.config:TokenizeConfig", "codec_", "stage 4", "local/extract_codes.py"),
    "tts_data": Group("valle.data.config:TtsDataConfig", "", "stages 5-6 (data)", "local/prepare_tts_data.py"),
    "train": Group("valle.train.config:TrainConfig", "", "stages 5-6", "local/train.py", ("ar", "nar")),
    "eval": Group("valle.eval.config:EvalConfig", "", "stage 7", "local/evaluate_tts.py"),
}


def group_settings(name: str) -> List[Setting]:
    g = GROUPS[name]
    module, cls = g.cls_path.split(":")
    return settings_of(getattr(importlib.import_module(module), cls), g.prefix)


def known_settings() -> Dict[str, Tuple[str, Setting]]:
    """conf name -> (group, setting), variants included ("ar_num_steps")."""
    out: Dict[str, Tuple[str, Setting]] = {}
    for name, g in GROUPS.items():
        for s in group_settings(name):
            if s.name in out:
                raise TypeError(f"setting {s.name} is declared by both {out[s.name][0]} and {name}")
            out[s.name] = (name, s)
            for v in g.variants:
                out[f"{v}_{s.name}"] = (name, s)
    return out


def parse_pairs(pairs: Sequence[str]) -> Dict[str, str]:
    out = {}
    for p in pairs:
        name, sep, value = p.partition("=")
        if not sep:
            raise ValueError(f"expected NAME=VALUE, got {p!r}")
        out[name] = value
    return out


def recipe_names(corpora: Sequence[str]) -> List[str]:
    return list(RECIPE_NAMES) + [f"{c}_{f}" for c in corpora for f in CORPUS_FIELDS]


def check(values: Dict[str, str]) -> List[str]:
    """Problems with a conf's variables: unknown names (with the nearest known ones) and unparsable values."""
    known = known_settings()
    also = recipe_names(values.get("corpora", "").split())
    problems = []
    for name, text in values.items():
        if name in also:
            continue
        if name not in known:
            near = difflib.get_close_matches(name, list(known) + list(also), n=3, cutoff=0.6)
            problems.append(f"unknown setting '{name}'" + (f" (did you mean {', '.join(near)}?)" if near else ""))
            continue
        setting = known[name][1]
        try:
            value = parse_value(setting, text)
        except (ValueError, TypeError) as e:
            problems.append(f"{name}={text!r}: {e}")
            continue
        if setting.choices:
            bad = [v for v in (value if isinstance(value, tuple) else (value,)) if v not in setting.choices]
            if bad:
                problems.append(f"{name}={text!r}: expected one of {' '.join(map(str, setting.choices))}")
    return problems


def options(group: str, values: Dict[str, str], variant: Optional[str] = None) -> List[str]:
    """The options of ``group``'s script for the settings in ``values`` (a variant's own names win)."""
    out: List[str] = []
    for s in group_settings(group):
        key = f"{variant}_{s.name}" if variant and f"{variant}_{s.name}" in values else s.name
        if key not in values:
            continue
        value = parse_value(s, values[key])
        out.append(s.option)
        if isinstance(value, tuple):
            out += [format_value(v) for v in value]
        else:
            out.append(format_value(value))
    return out


TABLE_BEGIN = "<!-- settings table: python -m valle.conf table --write README.md -->"
TABLE_END = "<!-- end of settings table -->"


def write_table(path: Path) -> None:
    """Replace the text between TABLE_BEGIN and TABLE_END in ``path`` with the current table."""
    text = Path(path).read_text(encoding="utf-8")
    if TABLE_BEGIN not in text or TABLE_END not in text:
        raise ValueError(f"{path}: no '{TABLE_BEGIN}' ... '{TABLE_END}' block")
    head, rest = text.split(TABLE_BEGIN, 1)
    tail = rest.split(TABLE_END, 1)[1]
    write_text_atomic(path, head + TABLE_BEGIN + "\n" + table() + TABLE_END + tail)


def table() -> str:
    """Markdown: every setting with its stage, default and meaning."""
    rows = ["| setting | default | stage | meaning |", "|---|---|---|---|"]
    # Defaults in code spans; an empty default shows as an empty span.
    for name, g in GROUPS.items():
        for s in group_settings(name):
            default = format_value(s.default)
            choices = " (" + " / ".join(map(str, s.choices)) + ")" if s.choices else ""
            rows.append(f"| `{s.name}` | `{default}` | {g.stage} | {s.help}{choices} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("pairs", nargs="*")
    o = sub.add_parser("options")
    o.add_argument("group", choices=sorted(GROUPS))
    o.add_argument("--model", default=None, help="variant (training: ar or nar)")
    o.add_argument("pairs", nargs="*")
    t = sub.add_parser("table")
    t.add_argument("--write", type=Path, default=None, help="update the table block of this file (README.md)")
    args = p.parse_args(argv)
    if args.cmd == "table":
        if args.write:
            write_table(args.write)
        else:
            sys.stdout.write(table())
        return 0
    values = parse_pairs(args.pairs)
    if args.cmd == "check":
        problems = check(values)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    sys.stdout.write("".join(x + "\0" for x in options(args.group, values, args.model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
