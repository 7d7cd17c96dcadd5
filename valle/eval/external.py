"""Hooks for external models (an ASR for WER, a speaker model for similarity) as plain commands.

The command gets two paths: a tab-separated input list it reads and an output file it writes, one
"id<TAB>value" line per input line (Kaldi's scp/ark-as-text spirit: any toolkit can sit behind it).
"""
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List


class ExternalCommandError(RuntimeError):
    pass


def run_list_command(command: str, input_lines: List[str], what: str) -> Dict[str, str]:
    """Run ``command INPUT OUTPUT``; -> {id: value} from OUTPUT. A failing command raises with its own message
    (the user asked for this metric: it is not skipped silently)."""
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "input.tsv", Path(tmp) / "output.tsv"
        inp.write_text("".join(line + "\n" for line in input_lines), encoding="utf-8")
        try:
            proc = subprocess.run(shlex.split(command) + [str(inp), str(out)], capture_output=True, text=True)
        except OSError as e:
            raise ExternalCommandError(f"{what} command {command!r} could not start: {e}") from e
        if proc.returncode != 0 or not out.is_file():
            reason = (proc.stderr or proc.stdout).strip()[-2000:] or "it wrote no output file"
            raise ExternalCommandError(f"{what} command {command!r} failed (exit {proc.returncode}): {reason}")
        result = {}
        for n, line in enumerate(out.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                key, sep, value = line.partition("\t")
                if not sep:
                    raise ExternalCommandError(f"{what} command {command!r}: output line {n} has no tab: {line!r}")
                result[key] = value
        return result
