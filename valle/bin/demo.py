"""A web demo page for a trained recipe (Gradio): type text, upload or record a voice prompt, listen.

    python -m valle.bin.demo --exp-dir exp/mini --data-dir data/mini [--port 7860]

Reads what ``valle.bin.synthesize`` reads (<exp-dir>/{ar,nar}/model.pt, <data-dir>/tokens/codec.pt,
<data-dir>/lang/). Listens on 127.0.0.1 unless --host says otherwise. The page returns the audio, its duration
and decode time, the phones the models read, and the generated codes as a picture. Bad input (empty text,
unreadable, silent, too long or too big prompts, characters the front end cannot read) gets the CLI's one-line
message on the page, never a stack trace. Uploads and outputs live in one temporary folder, removed on exit;
requests are served one at a time per model (the others wait in Gradio's queue).
"""
import argparse
import dataclasses
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from valle.constants import CODEC_SAMPLE_RATE
from valle.infer.config import DecodeConfig
from valle.infer.prompt import PromptError
from valle.infer.synthesize import MODES, Request, Synthesizer
from valle.infer.text import TextError
from valle.models.io import CheckpointError
from valle.utils.audio import write_wav
from valle.utils.settings import add_settings, from_args

MAX_UPLOAD = "10mb"   # a 20 s prompt (the longest load_prompt_audio takes) is 4 MB as 48 kHz 16-bit stereo wav


class DemoError(ValueError):
    """Input the demo refuses; its message is shown on the page."""


@dataclasses.dataclass
class Output:
    wav: Path
    info: str
    phones: str
    codes: "object"  # numpy [frames, codebooks]


class DemoSession:
    """The synthesizer behind the page, and the checks of one request (no Gradio here, so it is testable)."""

    def __init__(self, synth: Synthesizer, out_dir: Path):
        self.synth, self.out_dir = synth, Path(out_dir)
        self.default_decode = synth.decode
        self.count = 0

    def run(self, text: str, prompt_audio: Optional[str], prompt_text: str, mode: str = "cross",
            keep_prompt: bool = False, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
            seed: Optional[int] = 0) -> Output:
        text, prompt_text = (text or "").strip(), (prompt_text or "").strip()
        if not text:
            raise DemoError("the text is empty: type what the voice should say")
        if not prompt_audio:
            raise DemoError("no prompt audio: upload a recording of the voice (3-10 s) or record one")
        if not prompt_text:
            raise DemoError("the prompt's transcript is empty: type what the prompt audio says")
        if mode not in MODES:
            raise DemoError(f"mode must be one of {', '.join(MODES)}")
        sampling = dataclasses.replace(self.default_decode.sampling, temperature=float(temperature),
                                       top_k=int(top_k), top_p=float(top_p))
        self.synth.decode = dataclasses.replace(self.default_decode, sampling=sampling,
                                                seed=None if seed is None or seed == "" else int(seed))
        request = Request(text, Path(prompt_audio), prompt_text, mode, keep_prompt)
        try:
            prompt_phones = self.synth.frontend.phones(prompt_text)
            phones = self.synth.frontend.phones(text)
            t0 = time.perf_counter()
            [result] = self.synth.synthesize([request])
            seconds = time.perf_counter() - t0
        except (TextError, PromptError, ValueError) as e:
            raise DemoError(str(e)) from e
        finally:
            self.synth.decode = self.default_decode
        self.count += 1
        wav = self.out_dir / f"output_{self.count:05d}.wav"
        write_wav(wav, result.audio, CODEC_SAMPLE_RATE)
        duration = len(result.audio) / CODEC_SAMPLE_RATE
        info = (f"{duration:.2f} s of audio in {seconds:.2f} s (real-time factor {seconds / max(duration, 1e-9):.2f}); "
                f"{result.num_frames} frames for {result.num_phones} phones"
                + ("" if result.hit_eos else "; no end of speech predicted: cut at the length limit"))
        return Output(wav, info, f"prompt: {' '.join(prompt_phones)}\ntext:   {' '.join(phones)}", result.codes)


def codes_figure(codes):
    """The generated codes, one row per codebook, as a matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 2.4))
    if codes is not None and len(codes):
        ax.imshow(codes.T, aspect="auto", interpolation="nearest", cmap="viridis")
        ax.set_xlabel(f"frame (75 per second), {len(codes)} frames")
    ax.set_ylabel("codebook")
    ax.set_title("generated codec tokens (row 1: the AR model's, rows 2-8: the NAR model's)")
    fig.tight_layout()
    plt.close(fig)
    return fig


def build_ui(session: DemoSession):
    import gradio as gr

    def generate(text, prompt_audio, prompt_text, mode, keep_prompt, temperature, top_k, top_p, seed):
        try:
            out = session.run(text, prompt_audio, prompt_text, mode, keep_prompt, temperature, top_k, top_p, seed)
        except DemoError as e:
            raise gr.Error(str(e), print_exception=False) from None
        return str(out.wav), out.info, out.phones, codes_figure(out.codes)

    with gr.Blocks(title="VALL-E recipe demo") as demo:
        gr.Markdown("# VALL-E: zero-shot text to speech\nA voice prompt of 3-10 s and its transcript; the models "
                    "continue in that voice. *cross*: the prompt is another utterance. *continuation*: the prompt "
                    "is the start of an utterance and the text is what follows it.")
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(label="Text to say", lines=3, elem_id="text")
                prompt_audio = gr.Audio(label="Voice prompt", sources=["upload", "microphone"], type="filepath",
                                        elem_id="prompt_audio")
                prompt_text = gr.Textbox(label="What the prompt says", elem_id="prompt_text")
                mode = gr.Radio(list(MODES), value="cross", label="Prompt mode", elem_id="mode")
                keep_prompt = gr.Checkbox(label="continuation: start the output with the prompt", value=False)
                with gr.Accordion("Sampling", open=False):
                    temperature = gr.Slider(0.1, 1.5, value=session.default_decode.sampling.temperature, step=0.05,
                                            label="temperature")
                    top_k = gr.Slider(0, 100, value=session.default_decode.sampling.top_k, step=1,
                                      label="top-k (0: off)")
                    top_p = gr.Slider(0.1, 1.0, value=session.default_decode.sampling.top_p, step=0.05,
                                      label="top-p (1: off)")
                    seed = gr.Number(value=session.default_decode.seed, precision=0, label="seed (empty: random)")
                button = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column():
                audio = gr.Audio(label="Output", type="filepath", elem_id="output_audio", interactive=False)
                info = gr.Textbox(label="Duration and decode time", elem_id="info")
                phones = gr.Textbox(label="Phones the models read", lines=3, elem_id="phones")
                plot = gr.Plot(label="Generated codes", elem_id="codes")
        button.click(generate, [text, prompt_audio, prompt_text, mode, keep_prompt, temperature, top_k, top_p, seed],
                     [audio, info, phones, plot], concurrency_limit=1)
    return demo


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--max-upload", default=MAX_UPLOAD, help="largest prompt upload (Gradio's max_file_size)")
    p.add_argument("--device", default="cpu")
    add_settings(p, DecodeConfig, title="decoding defaults (the page can change the sampling ones)")
    return p.parse_args(argv)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = get_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # kill <pid> (SIGTERM) stops it as Ctrl-C does: Gradio closes, then its folder is removed. (SIGINT alone is not
    # enough for a demo started in the background: shells start background jobs with SIGINT ignored, and Python
    # then never raises KeyboardInterrupt.)
    signal.signal(signal.SIGTERM, _interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="valle_demo_"))
    # Gradio keeps uploads under GRADIO_TEMP_DIR: ours, removed on exit, so nothing lands elsewhere.
    os.environ["GRADIO_TEMP_DIR"] = str(tmp / "uploads")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a local demo
    try:
        try:
            synth = Synthesizer(args.exp_dir / "ar" / "model.pt", args.exp_dir / "nar" / "model.pt",
                                args.data_dir / "tokens" / "codec.pt", args.data_dir / "lang", args.device,
                                from_args(DecodeConfig, args))
        except (CheckpointError, FileNotFoundError, ValueError) as e:
            logging.error(str(e))
            return 1
        (tmp / "outputs").mkdir()
        demo = build_ui(DemoSession(synth, tmp / "outputs"))
        demo.queue(default_concurrency_limit=1)
        logging.info(f"demo on http://{args.host}:{args.port} (Ctrl-C stops it)")
        demo.launch(server_name=args.host, server_port=args.port, max_file_size=args.max_upload,
                    allowed_paths=[str(tmp / "outputs")], show_error=False, quiet=True, footer_links=[])
    finally:
        logging.info(f"demo stopped; removing {tmp}")
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
