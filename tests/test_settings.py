"""One home per setting: dataclass fields -> stage-script options, conf names, run.sh, README table."""
import dataclasses
import re
import subprocess
import sys
from typing import Optional, Tuple

import pytest

from conftest import REPO, recipe_dirs, run_recipe
from valle import conf
from valle.train.config import TrainConfig
from valle.utils.settings import add_settings, build, format_value, from_args, nested, setting, settings_of


@dataclasses.dataclass
class Inner:
    depth: int = setting(3, "how deep")
    hidden: float = 0.5                       # no help: internal, not a setting


@dataclasses.dataclass
class Outer:
    path: str                                 # plumbing, given by the caller
    inner: Inner = nested(Inner)
    flat: Inner = nested(Inner, prefix="")
    rate: Optional[float] = setting(None, "optional rate")
    langs: Tuple[str, ...] = setting(("en-us",), "languages")
    flag: bool = setting(True, "a switch")
    mode: str = setting("a", "the mode", choices=("a", "b"), name="outer_mode")


def parse(cls, argv, prefix=""):
    import argparse

    p = argparse.ArgumentParser()
    add_settings(p, cls, prefix)
    return p.parse_args(argv)


def test_flat_names_nesting_overrides_and_types():
    names = [s.name for s in settings_of(Outer)]
    assert names == ["inner_depth", "depth", "rate", "langs", "flag", "outer_mode"]
    args = parse(Outer, ["--inner-depth", "5", "--rate", "0.25", "--langs", "en-us", "en-gb", "--flag", "false",
                         "--outer-mode", "b"])
    got = from_args(Outer, args, path="x")
    assert got == Outer("x", Inner(5), Inner(3), 0.25, ("en-us", "en-gb"), False, "b")
    assert from_args(Outer, parse(Outer, []), path="x") == Outer("x")   # defaults come from the fields
    assert parse(Outer, ["--rate", ""]).rate is None
    with pytest.raises(SystemExit):
        parse(Outer, ["--outer-mode", "c"])
    assert build(Outer, {"depth": 9}, path="y").flat.depth == 9


def test_a_new_training_setting_is_one_field():
    """A field added to TrainConfig is an option of local/train.py's parser, a conf name run.sh passes, and a
    value of the config, with nothing else written."""
    Extended = dataclasses.make_dataclass(
        "Extended", [("label_smoothing", float, setting(0.0, "target smoothing"))], bases=(TrainConfig,))
    assert "--label-smoothing" in [s.option for s in settings_of(Extended)]
    inputs = dict(model_type="ar", exp_dir=".", phones=".", tts_dir=".")
    assert from_args(Extended, parse(Extended, ["--label-smoothing", "0.1"]), **inputs).label_smoothing == 0.1
    assert from_args(Extended, parse(Extended, []), **inputs).label_smoothing == 0.0


def test_conf_options_with_model_variants():
    values = {"num_steps": "5", "ar_num_steps": "7", "peak_lr": "2e-3", "quadratic_duration": ""}
    assert conf.options("train", values, "ar") == ["--num-steps", "7", "--peak-lr", "0.002",
                                                   "--quadratic-duration", ""]
    assert conf.options("train", values, "nar")[:2] == ["--num-steps", "5"]
    assert conf.options("lang", {"g2p_languages": "en-us en-gb"}) == ["--g2p-languages", "en-us", "en-gb"]


def test_conf_check_names_unknown_settings_and_bad_values():
    problems = conf.check({"gmm_iters": "3", "peak_lr": "fast", "phone_set": "xsampa", "synth_modes": "cross x",
                           "corpora": "mycorpus", "mycorpus_dir": "/d", "yourcorpus_dir": "/e", "nar_peak_lr": "1e-3"})
    assert problems == ["unknown setting 'gmm_iters' (did you mean gmm_num_iters?)",
                        "peak_lr='fast': could not convert string to float: 'fast'",
                        "phone_set='xsampa': expected one of arpabet ipa",
                        "synth_modes='cross x': expected one of cross continuation",
                        "unknown setting 'yourcorpus_dir' (did you mean mycorpus_dir, mycorpus_split, mycorpus_parts?)"]


def test_no_setting_is_declared_twice():
    known = conf.known_settings()  # raises on a name two stages would share
    assert "ar_num_steps" in known and "test_prompt_seconds" in known and "prompt_seconds" in known


def recipe_conf_values(recipe: str) -> dict:
    """The variables egs/<recipe>/conf.sh defines, as run.sh sees them."""
    script = (f'dl_dir=/dl data_dir=/data exp_dir=/exp recipe_dir=egs/{recipe}; before=$(compgen -v); . egs/{recipe}/conf.sh; '
              'for n in $(comm -13 <(echo "$before" | sort) <(compgen -v | sort)); do '
              '[ "$n" = before ] || printf "%s=%s\\0" "$n" "${!n}"; done')
    out = subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return dict(p.split("=", 1) for p in out.split("\0") if p)


@pytest.mark.parametrize("recipe", sorted(p.name for p in (REPO / "egs").iterdir() if (p / "conf.sh").is_file()))
def test_every_recipe_conf_sets_only_known_settings(recipe):
    values = recipe_conf_values(recipe)
    assert values["corpora"]
    assert conf.check(values) == []


def help_entries(script: str) -> dict:
    """--help of a stage script: {option: its whole entry, whitespace collapsed}."""
    out = subprocess.run([sys.executable, str(REPO / script), "--help"], capture_output=True, text=True,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    entries = re.split(r"\n  (?=-)", out.stdout)
    return {e.split()[0].rstrip(","): " ".join(e.split()) for e in entries[1:]}


@pytest.mark.parametrize("group", sorted(conf.GROUPS))
def test_stage_script_help_lists_its_settings_with_their_defaults(group):
    script = conf.GROUPS[group].script
    entries = help_entries(script)
    for s in conf.group_settings(group):
        assert s.option in entries, f"{script} --help does not list {s.option}"
        shown = re.findall(r"\[[^\]]*\]", entries[s.option])[-1]
        assert shown == f"[{format_value(s.default)}]", f"{script}: {s.option} shows default {shown}"
        assert s.help.split()[0] in entries[s.option]


def test_readme_settings_table_is_the_generated_one():
    readme = (REPO / "README.md").read_text()
    start, end = conf.TABLE_BEGIN, conf.TABLE_END
    assert start in readme and end in readme
    assert readme[readme.index(start) + len(start):readme.index(end)].strip() == conf.table().strip(), \
        "README's settings table is stale: python -m valle.conf table --write README.md"


@pytest.mark.e2e
def test_run_sh_refuses_an_unknown_conf_name_before_any_stage(tmp_path):
    bad = tmp_path / "bad.sh"
    bad.write_text("peak_lr=1e-3\ndnn_epoch=3\n")
    p = run_recipe("--conf", bad, *recipe_dirs(tmp_path), check=False)
    assert p.returncode == 1
    assert "unknown setting 'dnn_epoch' (did you mean dnn_epochs?)" in p.stdout
    assert "Stage 0" not in p.stdout and not (tmp_path / "data").exists()
