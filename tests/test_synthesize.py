"""python -m valle.bin.synthesize end to end on random models: both prompt modes, batch mode, errors."""
import numpy as np
import pytest
import soundfile as sf

from conftest import make_random_recipe
from valle.bin.synthesize import main

@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    return make_random_recipe(tmp_path_factory.mktemp("synth"))


def common(root):
    return ["--exp-dir", str(root / "exp"), "--data-dir", str(root / "data"), "--prompt-audio",
            str(root / "prompt.wav")]


@pytest.mark.parametrize("mode", ["cross", "continuation"])
def test_both_prompt_modes_write_24k_wavs(recipe, tmp_path, mode):
    out = tmp_path / f"{mode}.wav"
    extra = ["--prompt-text", "hello world"]
    main(common(recipe) + ["--text", "hello cat, world", "--mode", mode, "--out", str(out), "--top-k", "20"] + extra)
    audio, rate = sf.read(out)
    assert rate == 24000 and audio.ndim == 1
    frames = len(audio) / 320
    assert frames == int(frames) and 1 <= frames <= 30 * 12  # guards: 12 phones to speak (pause SIL included)
    again = tmp_path / "again.wav"
    main(common(recipe) + ["--text", "hello cat, world", "--mode", mode, "--out", str(again), "--top-k", "20"] + extra)
    assert np.array_equal(sf.read(again)[0], audio)          # same seed, same audio


def test_compiled_and_bfloat16_synthesis(recipe, tmp_path):
    """--compile (static cache, compiled step) writes the very audio of the eager decode; --dtype bfloat16 (models
    and codec decoder) speaks too, with other samples (so the format was applied)."""
    args = common(recipe) + ["--text", "hello cat, world", "--prompt-text", "hello world", "--top-k", "20",
                             "--max-frames-per-phone", "4"]
    wavs = {}
    for name, extra in (("eager", []), ("compiled", ["--compile", "true"]), ("bf16", ["--dtype", "bfloat16"])):
        main(args + ["--out", str(tmp_path / f"{name}.wav")] + extra)
        wavs[name] = sf.read(tmp_path / f"{name}.wav")[0]
    assert np.array_equal(wavs["compiled"], wavs["eager"])
    assert len(wavs["bf16"]) > 0 and not np.array_equal(wavs["bf16"], wavs["eager"])


def test_batch_mode(recipe, tmp_path):
    lines = tmp_path / "lines.txt"
    prompt = recipe / "prompt.wav"
    lines.write_text(f"hello|{prompt}|world\nhello world cat|{prompt}|cat\n\ncat|{prompt}|hello\n")
    main(["--exp-dir", str(recipe / "exp"), "--data-dir", str(recipe / "data"), "--batch", str(lines),
          "--out-dir", str(tmp_path / "out"), "--batch-size", "2"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00001.wav", "00002.wav", "00004.wav"]


@pytest.mark.parametrize("args,message", [
    (["--text", "hello", "--out", "x.wav"], "needs the prompt's transcript"),
    (["--text", "hello 世界", "--prompt-text", "cat", "--out", "x.wav"], "cannot read"),
    (["--text", "hello", "--prompt-text", "cat", "--out", "x.wav", "--exp-dir", "/nonexistent"], "no such file"),
])
def test_errors_exit_1_with_the_reason(recipe, tmp_path, caplog, args, message):
    with pytest.raises(SystemExit) as e:
        main(common(recipe) + args)
    assert e.value.code == 1
    assert message in caplog.text


def synthesizer(root, **kw):
    from valle.infer.decode import DecodeConfig
    from valle.infer.sampling import SamplingConfig
    from valle.infer.synthesize import Synthesizer

    return Synthesizer(root / "exp" / "ar" / "model.pt", root / "exp" / "nar" / "model.pt",
                       root / "data" / "tokens" / "codec.pt", root / "data" / "lang",
                       decode=DecodeConfig(sampling=SamplingConfig(top_k=1)), **kw)


def test_long_text_is_split_at_sentence_ends_and_joined(recipe):
    from valle.infer.synthesize import Request

    # The prompt "hello world" is 10 phones with its silences: 8 are left for the text in each piece.
    synth = synthesizer(recipe, max_phones=18)
    text = "hello cat. world cat. hello world cat."
    prompt = recipe / "prompt.wav"
    [long] = synth.synthesize([Request(text, prompt, "hello world")])
    pieces = ["hello cat.", "world cat.", "hello world", "cat."]   # the last sentence (11 phones) split at a word
    singles = synth.synthesize([Request(p, prompt, "hello world") for p in pieces])
    assert long.num_pieces == 4 and long.num_frames == sum(r.num_frames for r in singles)
    assert np.array_equal(long.audio, np.concatenate([r.audio for r in singles]))
    # Short text stays one piece.
    assert synth.synthesize([Request("hello cat.", prompt, "hello world")])[0].num_pieces == 1


def test_continuation_keeps_the_prompt_when_asked_and_refuses_long_text(recipe):
    from valle.infer.synthesize import Request
    from valle.infer.text import TextError

    synth = synthesizer(recipe, max_phones=18)
    prompt = recipe / "prompt.wav"
    [bare, whole] = synth.synthesize([Request("hello world", prompt, "cat", mode="continuation"),
                                      Request("hello world", prompt, "cat", mode="continuation", keep_prompt=True)])
    assert bare.num_frames == whole.num_frames
    # the prompt (3.5 s) is kept whole: it is the start of the utterance, cut by the caller after a word
    assert len(bare.audio) == bare.num_frames * 320 and len(whole.audio) == (263 + whole.num_frames) * 320
    with pytest.raises(TextError, match="cross mode splits long text"):
        synth.synthesize([Request("hello world cat hello", prompt, "cat", mode="continuation")])
    with pytest.raises(TextError, match="needs the prompt's transcript"):
        synth.synthesize([Request("hello world", prompt, mode="continuation")])


def test_grouped_ar_model_synthesizes_both_modes(tmp_path):
    """An AR model with ar_group_size 2 (from model.pt): the 263-frame prompt is cut to 262 (whole groups) at its
    start, and both modes speak; outputs may end inside a group."""
    from valle.infer.synthesize import Request

    synth = synthesizer(make_random_recipe(tmp_path, ar_group_size=2))
    assert synth.ar.group_size == 2
    prompt = tmp_path / "prompt.wav"
    cross, cont = synth.synthesize([Request("hello cat, world", prompt, "hello world"),
                                    Request("hello world", prompt, "cat", mode="continuation", keep_prompt=True)])
    for r in (cross, cont):
        assert 1 <= r.num_frames <= 30 * r.num_phones and r.codes.shape == (r.num_frames, 8)
    assert len(cross.audio) == cross.num_frames * 320 and len(cont.audio) == (262 + cont.num_frames) * 320


def test_what_each_model_reads_in_each_mode(recipe):
    """Cross: the AR reads prompt + text with one SIL between; continuation: the words run on (no SIL, and a phone
    repeated across the junction is one phone, as in training). The NAR reads only the phones of the frames it
    fills in, in both modes: in training its text is the target crop's phones, never the prompt's."""
    from valle.infer.synthesize import Request

    synth = synthesizer(recipe)
    prompt = recipe / "prompt.wav"
    [(ar, nar, codes, _)] = synth._prepare(Request("tell", prompt, "cat", mode="cross"))
    assert ar == "SIL k æ t SIL t ə l SIL".split() and nar == "SIL t ə l SIL".split()
    assert codes.shape == (263, 8)
    [(ar, nar, _, _)] = synth._prepare(Request("tell", prompt, "cat", mode="continuation"))
    assert ar == "SIL k æ t ə l SIL".split() and nar == "t ə l SIL".split()
    [(ar, nar, _, _)] = synth._prepare(Request("cat, hello", prompt, "hello world", mode="continuation"))
    assert ar == "SIL h ə l oʊ w ɜː l d k æ t SIL h ə l oʊ SIL".split() and nar == "k æ t SIL h ə l oʊ SIL".split()


def test_synthesis_refuses_a_codec_the_models_were_not_trained_on(recipe, tmp_path):
    import shutil

    import torch

    from valle.codec.encodec import codec_identity
    from valle.models.io import CheckpointError

    exp = tmp_path / "exp"
    shutil.copytree(recipe / "exp", exp)
    codec_pt = recipe / "data" / "tokens" / "codec.pt"
    right = codec_identity(codec_pt)
    assert right["kind"] is None and len(right["sha256"]) == 16   # a codec.pt without its codec.json
    for kind in ("ar", "nar"):
        obj = torch.load(exp / kind / "model.pt", weights_only=True)
        torch.save({**obj, "codec": right}, exp / kind / "model.pt")
    from valle.infer.synthesize import Synthesizer

    Synthesizer(exp / "ar" / "model.pt", exp / "nar" / "model.pt", codec_pt, recipe / "data" / "lang")
    obj = torch.load(exp / "nar" / "model.pt", weights_only=True)
    torch.save({**obj, "codec": {**right, "kind": "mel_rvq", "sha256": "0" * 16}}, exp / "nar" / "model.pt")
    with pytest.raises(CheckpointError, match="NAR model was trained on the tokens of another codec .mel_rvq 0000"):
        Synthesizer(exp / "ar" / "model.pt", exp / "nar" / "model.pt", codec_pt, recipe / "data" / "lang")


def test_a_prompt_is_encoded_once_per_content(recipe, tmp_path, monkeypatch):
    """The prompt cache: the same file (or a copy) is not encoded again; a file with other samples is."""
    import shutil
    synth = synthesizer(recipe)
    calls = []
    encode = synth.codec.encode_batch
    monkeypatch.setattr(synth.codec, "encode_batch", lambda waves: calls.append(len(waves[0])) or encode(waves))
    copy = tmp_path / "copy.wav"
    shutil.copy(recipe / "prompt.wav", copy)
    first = synth.prompt_codes(recipe / "prompt.wav")
    assert np.array_equal(synth.prompt_codes(copy), first) and len(calls) == 1
    audio, rate = sf.read(copy)
    sf.write(copy, audio[: len(audio) // 2], rate)
    assert len(synth.prompt_codes(copy)) < len(first) and len(calls) == 2
    assert np.array_equal(synth.prompt_codes(recipe / "prompt.wav"), first) and len(calls) == 2
