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
    from http_files import FileServer
    from valle.corpus.lm_resources import LIBRISPEECH_LM_FILES

    # Stage 0 also fetches the LM resources: the lexicon, from a mirror on 127.0.0.1 (a stand-in of its size).
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    size = LIBRISPEECH_LM_FILES["librispeech-lexicon.txt"]
    lines = "".join(f"W{i:07d} AH0 B\n" for i in range((size - 100) // 16))  # 16 bytes each
    (mirror / "librispeech-lexicon.txt").write_text(lines + "X" * (size - len(lines) - 3) + " B\n")
    assert (mirror / "librispeech-lexicon.txt").stat().st_size == size
    server = FileServer(mirror)
    conf = tmp_path / "parts.sh"
    conf.write_text('librispeech_parts="train-clean-100 dev-clean test-clean"\n'
                    f'lm_files=librispeech-lexicon.txt\nlm_base_url={server.url}\n')
    dl = tmp_path / "dl"
    dl.mkdir()
    for name in ("LibriSpeech", "librilight"):
        (dl / name).symlink_to(tiny_corpus / name)
    before = snapshot(tiny_corpus)
    try:
        out = run_recipe("--recipe", "librispeech", "--stage", 0, "--stop-stage", 1, "--dl-dir", dl,
                         "--conf", conf, *recipe_dirs(tmp_path)).stdout
    finally:
        server.stop()
    assert "LM files in " in out and "0 present, 1 downloaded" in out
    assert (dl / "lm" / "librispeech-lexicon.txt").read_bytes() == (mirror / "librispeech-lexicon.txt").read_bytes()
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


# ------------------------------------------------------------------------------------------ LM resources
@pytest.fixture
def lm_server(tmp_path):
    """openslr 11 stand-ins on 127.0.0.1: a gzipped ARPA file and a lexicon, with their sizes."""
    import gzip

    from http_files import FileServer

    root = tmp_path / "server"
    root.mkdir()
    arpa = "\\data\\\nngram 1=3\n\n\\1-grams:\n" + "".join(f"-1.0\tW{i}\n" for i in range(20000)) + "\\end\\\n"
    (root / "3-gram.pruned.1e-7.arpa.gz").write_bytes(gzip.compress(arpa.encode(), mtime=0))
    (root / "librispeech-lexicon.txt").write_text("".join(f"W{i} AH0 B\n" for i in range(5000)))
    sizes = {p.name: p.stat().st_size for p in root.iterdir()}
    server = FileServer(root)
    yield server, sizes
    server.stop()


def test_lm_files_download_resume_and_are_used_when_present(lm_server, tmp_path):
    from valle.corpus.lm_resources import download_lm_files
    from valle.utils.download import part_path

    server, sizes = lm_server
    names = sorted(sizes)
    lm_dir = tmp_path / "lm"
    # A connection that drops after 1000 bytes: the partial file is kept, under .part only.
    server.cut_after = 1000
    with pytest.raises(DownloadError, match="run again to resume") as e:
        download_lm_files(lm_dir, names, base_url=server.url, sizes=sizes)
    assert f"put it at {lm_dir / names[0]}" in str(e.value)
    assert not (lm_dir / names[0]).exists() and part_path(lm_dir / names[0]).stat().st_size == 1000
    # The next run asks for the rest and appends it.
    server.cut_after = None
    server.requests.clear()
    assert download_lm_files(lm_dir, names, base_url=server.url, sizes=sizes) == names
    assert server.requests[0] == (f"/{names[0]}", "bytes=1000-")
    for n in names:
        assert (lm_dir / n).read_bytes() == (tmp_path / "server" / n).read_bytes()
        assert not part_path(lm_dir / n).exists()
    # Present and complete: nothing is requested.
    server.requests.clear()
    assert download_lm_files(lm_dir, names, base_url=server.url, sizes=sizes) == []
    assert server.requests == []


def test_a_server_without_ranges_restarts_the_file(lm_server, tmp_path):
    """lhotse's resumable_download appends a 200 response to the partial file; this one starts over."""
    from valle.corpus.lm_resources import download_lm_files
    from valle.utils.download import part_path

    server, sizes = lm_server
    name = "librispeech-lexicon.txt"
    server.ranges = False
    part_path(tmp_path / name).write_bytes(b"W0 AH0 B\nW1 AH0")
    assert download_lm_files(tmp_path, [name], base_url=server.url, sizes=sizes) == [name]
    assert (tmp_path / name).read_bytes() == (tmp_path / "server" / name).read_bytes()


def test_wrong_lm_files_are_never_kept_under_their_name_nor_touched(lm_server, tmp_path):
    from valle.corpus.lm_resources import check_manual_lm_files, download_lm_files
    from valle.utils.download import part_path

    server, sizes = lm_server
    gz = "3-gram.pruned.1e-7.arpa.gz"
    # The server's file is corrupt but of the right size: the download is checked to its CRC and removed.
    good = (tmp_path / "server" / gz).read_bytes()
    (tmp_path / "server" / gz).write_bytes(good[:-8] + bytes(8))
    with pytest.raises(DownloadError, match="not an intact gzip file.*removed it"):
        download_lm_files(tmp_path / "lm", [gz], base_url=server.url, sizes=sizes)
    assert not (tmp_path / "lm" / gz).exists() and not part_path(tmp_path / "lm" / gz).exists()
    # A file the user put there that is not the expected one: an error, and it stays as it was.
    (tmp_path / "lm" / gz).write_bytes(b"mine")
    for check in (lambda: download_lm_files(tmp_path / "lm", [gz], base_url=server.url, sizes=sizes),
                  lambda: check_manual_lm_files(tmp_path / "lm", [gz], sizes=sizes)):
        with pytest.raises(CorpusError, match="is there but is not LibriSpeech's \\(4 bytes, expected"):
            check()
        assert (tmp_path / "lm" / gz).read_bytes() == b"mine"
    with pytest.raises(CorpusError, match="not in .*get them from"):
        check_manual_lm_files(tmp_path / "lm2", [gz], sizes=sizes)
    with pytest.raises(CorpusError, match="unknown LM files \\['5-gram.arpa'\\]"):
        download_lm_files(tmp_path / "lm", ["5-gram.arpa"])


def test_download_lm_script_offline_exits_1_with_the_path_to_use(tmp_path):
    p = subprocess.run([sys.executable, str(REPO / "local" / "download_lm.py"), "--lm-dir", str(tmp_path / "lm"),
                        "--files", "librispeech-lexicon.txt", "--base-url", DEAD_URL], capture_output=True, text=True)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "could not download librispeech-lexicon.txt" in p.stderr
    assert f"put it at {tmp_path / 'lm' / 'librispeech-lexicon.txt'}" in p.stderr
    assert not list((tmp_path / "lm").glob("*"))  # no empty .part litter
