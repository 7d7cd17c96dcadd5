"""utils/parse_options.sh and run.sh's option handling."""
import re
import subprocess
import textwrap

import pytest

from conftest import REPO, run_recipe


def parse(*args, script_body="echo \"stage=$stage name=$long_name force=$force\""):
    """Source parse_options.sh in a small script declaring three options; return the process."""
    script = textwrap.dedent(f"""\
        set -euo pipefail
        stage=0
        long_name=abc
        force=false
        option_docs=("stage|first stage" "long_name|a name" "force|redo things")
        . {REPO}/utils/parse_options.sh
        {script_body}
        """)
    return subprocess.run(["bash", "-c", script, "test.sh", *args], capture_output=True, text=True)


def test_values_both_forms_and_dashes_to_underscores():
    p = parse("--stage", "3", "--long-name=x y")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "stage=3 name=x y force=false"


def test_boolean_flag_with_and_without_value():
    assert parse("--force").stdout.strip().endswith("force=true")
    assert parse("--force", "false", "--stage", "2").stdout.strip() == "stage=2 name=abc force=false"
    assert parse("--force", "true").stdout.strip().endswith("force=true")
    bad = parse("--force=maybe")
    assert bad.returncode != 0 and "true or false" in bad.stderr


@pytest.mark.parametrize("args", [["--bogus", "1"], ["--stag", "1"], ["--PATH", "/x"]])
def test_unknown_options_are_rejected(args):
    p = parse(*args)
    assert p.returncode != 0
    assert f"invalid option {args[0]}" in p.stderr
    assert "stage=" not in p.stdout  # the script did not go on with defaults


def test_missing_value_is_an_error():
    p = parse("--stage")
    assert p.returncode != 0 and "needs a value" in p.stderr


def test_positional_arguments_are_left_for_the_script():
    p = parse("--stage", "1", "rest", script_body='echo "$stage $*"')
    assert p.stdout.strip() == "1 rest"


def test_help_lists_every_option_of_run_sh_with_its_default():
    text = (REPO / "run.sh").read_text()
    docs = re.search(r"option_docs=\((.*?)\n\)", text, re.S).group(1)
    names = re.findall(r'"(\w+)\|', docs)
    assert {"recipe", "stage", "stop_stage", "nj", "force", "dl_dir", "conf"} <= set(names)
    out = subprocess.run([str(REPO / "run.sh"), "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for name in names:
        default = re.search(rf"^{name}=(.*)$", text, re.M).group(1).strip('"')
        line = next((l for l in out.stdout.splitlines() if l.split()[:1] == ["--" + name.replace("_", "-")]), None)
        assert line is not None, f"--help does not list --{name}"
        assert line.endswith(f"[{default}]"), f"--help shows the wrong default for --{name}: {line}"


@pytest.mark.parametrize("args,message", [
    (["--stage", "x"], "--stage must be a non-negative integer"),
    (["--nj", "0"], "--nj must be at least 1"),
    (["--stage", "3", "--stop-stage", "1"], "--stage 3 is after --stop-stage 1"),
    (["--recipe", "nope"], "no recipe 'nope'"),
    (["--conf", "/nonexistent.sh"], "--conf /nonexistent.sh: no such file"),
    (["--stage", "0", "extra"], "unexpected argument 'extra'"),
])
def test_run_sh_rejects_bad_options(args, message):
    p = run_recipe(*args, check=False)
    assert p.returncode != 0
    assert message in p.stdout
