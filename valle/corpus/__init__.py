"""Corpora: one module per corpus (lhotse-style prepare functions), downloads (stage 0), audited manifests
(stage 1), and the embedded mini corpus synthesizer (mini/)."""
