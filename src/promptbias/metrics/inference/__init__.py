"""Statistical inference on the metric tables: every test, interval and correction of the tool.

- ``engine``: the one engine of every permutation test: count arrays, group permutations and sign flips,
  runs paired by seed number, p-values and corrections (max-T step-down, Holm, BH, none);
- ``permutation``: the group verdicts in two scopes (these prompts, the model) and the prompt-disagreement
  test;
- ``uncertainty``: intervals and p-values across runs, the bootstrap;
- ``model_comparison``: paired tests of the gaps of two models on the same sentences, and each model's size
  of bias per attribute;
- ``wording``: the baseline of how much wording alone moves a gap;
- ``calibration``: the test's false-alarm rate on permuted copies of the data;
- ``simulation``: studies with a known truth, to measure false alarms and power;
- ``streams``: one random stream per key, so that adding a test never moves another's draws.
"""
