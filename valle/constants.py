"""Audio rates the whole recipe agrees on (one place, so no stage assumes its own)."""

CODEC_SAMPLE_RATE = 24000                           # EnCodec 24 kHz: codec audio, prompts, synthesized wavs
CODEC_HOP_LENGTH = 320                              # samples per codec frame
CODEC_FRAME_RATE = CODEC_SAMPLE_RATE / CODEC_HOP_LENGTH   # 75 Hz: frames of the codes the models read and write
ASR_SAMPLE_RATE = 16000                             # stage 3's features (LibriSpeech's rate), stage 7's recognizer
