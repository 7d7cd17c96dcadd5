"""VALL-E models: transformer with KV cache, AR and NAR (AdaLN), configs."""
