"""Stage 0 for downloadable corpora, exercised offline with the mini corpus laid out the same way."""
import subprocess
import sys

import pytest

from conftest import REPO
from valle.corpus.base import CorpusError, DownloadError
from valle.corpus.download import download_corpus, part_is_present

# Nothing listens on the discard port of loopback: a real network failure, at once.
DEAD_URL = "http://127.0.0.1:9"


def snapshot(directory):
    return {p: p.stat().st_mtime_ns for p in directory.rglob("*")}


def test_present_parts_are_used_as_they_are(tiny_corpus):
    before = snapshot(tiny_corpus / "LibriSpeech")
    fetched = download_corpus("librispeech", tiny_corpus / "LibriSpeech",
                              ["train-clean-100", "dev-clean", "test-clean"], base_url=DEAD_URL)
    assert fetched == []
    assert download_corpus("librilight", tiny_corpus / "librilight", ["small", "medium", "large"],
                           base_url=DEAD_URL) == []
    assert snapshot(tiny_corpus / "LibriSpeech") == before  # nothing touched, no .completed added


@pytest.mark.parametrize("corpus,folder,part", [("librispeech", "LibriSpeech", "dev-clean"),
                                                ("libritts", "LibriTTS", "dev-clean"),
                                                ("librilight", "librilight", "small")])
def test_network_failure_is_a_clear_message(tmp_path, corpus, folder, part):
    with pytest.raises(DownloadError) as e:
        download_corpus(corpus, tmp_path / folder, [part], base_url=DEAD_URL)
    assert f"could not download {corpus}/{part}" in str(e.value)
    assert f"put (or symlink) it at {tmp_path / folder / part}" in str(e.value)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.stat().st_size == 0]  # no empty litter


def test_download_script_exits_1_without_traceback(tmp_path):
    p = subprocess.run([sys.executable, str(REPO / "local" / "download_corpus.py"), "--corpus", "librispeech",
                        "--corpus-dir", str(tmp_path / "LibriSpeech"), "--parts", "dev-clean",
                        "--base-url", DEAD_URL], capture_output=True, text=True)
    assert p.returncode == 1
    assert "could not download librispeech/dev-clean" in p.stderr and "Traceback" not in p.stderr


def test_unknown_parts_and_misnamed_folders(tmp_path):
    with pytest.raises(CorpusError, match="has no parts \\['train-clean-99'\\]"):
        download_corpus("librispeech", tmp_path / "LibriSpeech", ["train-clean-99"])
    with pytest.raises(CorpusError, match="downloads into a folder named LibriSpeech"):
        download_corpus("librispeech", tmp_path / "ls", ["dev-clean"], base_url=DEAD_URL)
    with pytest.raises(CorpusError, match="no downloader for corpus 'mine'"):
        download_corpus("mine", tmp_path, ["a"])


def test_part_is_present(tmp_path):
    assert not part_is_present(tmp_path, "dev-clean")
    (tmp_path / "dev-clean" / "1").mkdir(parents=True)
    assert not part_is_present(tmp_path, "dev-clean")  # a folder without audio is not the part
    (tmp_path / "dev-clean" / "1" / "x.flac").write_bytes(b"")
    assert part_is_present(tmp_path, "dev-clean")


@pytest.mark.e2e
def test_librispeech_recipe_on_data_already_there(tiny_corpus, tmp_path):
    """egs/librispeech through run.sh on corpora in the real layouts, symlinked into --dl-dir as the
    README suggests: nothing is downloaded (there is no network here), nothing in them is touched,
    manifests are made."""
    from conftest import recipe_dirs, run_recipe
    conf = tmp_path / "parts.sh"
    conf.write_text('librispeech_parts="train-clean-100 dev-clean test-clean"\n')
    dl = tmp_path / "dl"
    dl.mkdir()
    for name in ("LibriSpeech", "librilight"):
        (dl / name).symlink_to(tiny_corpus / name)
    before = snapshot(tiny_corpus)
    out = run_recipe("--recipe", "librispeech", "--stage", 0, "--stop-stage", 1, "--dl-dir", dl,
                     "--conf", conf, *recipe_dirs(tmp_path)).stdout
    assert "librispeech: 3 parts present, 0 downloaded" in out
    assert "librilight: 3 parts present, 0 downloaded" in out
    assert "librispeech  train-clean-100" in out and "librilight   small" in out
    assert (tmp_path / "data" / "manifests" / ".done").is_file()
    assert (tmp_path / "data" / ".corpora.done").is_file() and not (dl / ".done").exists()
    assert snapshot(tiny_corpus) == before


def test_flat_corpus_download_guards(tmp_path, monkeypatch):
    """A flat corpus (LJSpeech, VCTK) is fetched whole: not over a folder with files in it (lhotse's downloaders
    empty the folder first), only into the folder name its archive makes, and a failure leaves no empty
    archive behind."""
    import urllib.request

    from valle.corpus.download import download_flat_corpus
    from valle.corpus.known import KNOWN_CORPORA

    def dead(url, *args, **kwargs):  # what lhotse's downloader meets offline
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", dead)
    with pytest.raises(DownloadError) as e:
        download_flat_corpus("ljspeech", tmp_path / "LJSpeech-1.1")
    assert f"put (or symlink) it at {tmp_path / 'LJSpeech-1.1'}" in str(e.value)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.stat().st_size == 0]
    with pytest.raises(CorpusError, match="downloads into a folder named VCTK-Corpus"):
        download_flat_corpus("vctk", tmp_path / "vctk")
    (tmp_path / "VCTK-Corpus").mkdir()
    (tmp_path / "VCTK-Corpus" / "notes.txt").write_text("mine\n")
    with pytest.raises(CorpusError, match="has files but no audio; not downloading over it"):
        download_flat_corpus("vctk", tmp_path / "VCTK-Corpus")
    assert (tmp_path / "VCTK-Corpus" / "notes.txt").read_text() == "mine\n"
    assert KNOWN_CORPORA["ljspeech"].download_dir_name == "LJSpeech-1.1"
