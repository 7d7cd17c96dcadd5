# The longer mini setting: proof that the models learn zero-shot TTS on 2 CPU cores (issue 15). Extra conf on top
# of egs/mini/conf.sh, in its own directories so the default run stays as it is:
#
#   ./run.sh --conf egs/mini/long.sh --dl-dir data/mini_long/download --data-dir data/mini_long \
#            --exp-dir exp/mini_long
#
# Same speakers as the default (the same seed and speaker counts), 80 instead of 30 utterances per training
# speaker (67 instead of 25 minutes of training audio: more audio per speaker), and 2000 + 2000 updates of the
# tiny model (stages 5 and 6: about 20 + 20 minutes here); stage 7 on 10 targets per test speaker. The README
# ("Learning to speak") has the numbers this gives and how they were chosen.
mini_train_utts_per_speaker=80
ar_num_steps=2000
nar_num_steps=2000
warmup_steps=200
valid_interval=250
save_interval=250
log_interval=50
test_max_per_speaker=10
