"""Inference: sampling, batched AR/NAR decoding, synthesis."""
