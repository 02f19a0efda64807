"""fitlab's engine: the command line, configuration, planning, running, reporting and
TensorBoard writing that every experiment shares. Experiments live beside it, in
`experiments/configs/` (their settings) and `experiments/studies/` (their own code);
adding one touches nothing here."""
