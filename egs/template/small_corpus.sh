# Training (stages 5-6) for one corpus of 10-100 h on a single GPU for a day or two; sourced by the confs of
# egs/template, egs/ljspeech and egs/vctk (one home for these values). The defaults are the paper's: its
# 12 x 1024 model, 800k updates with 32k of warm-up, for 60k hours, which such a corpus cannot feed (below
# 10 h, run.sh warns; model_config=tiny with a few thousand updates is then the honest choice). Raise num_steps
# while the validation loss still falls (exp/<recipe>/{ar,nar}/curves.png). Crops: most clips of such corpora
# are shorter than crop_max and are used whole. Override any of these after sourcing this file.
model_config=small
num_steps=100000
warmup_steps=4000
peak_lr=5e-4
crop_min=4
crop_max=12
valid_interval=2000
save_interval=2000
