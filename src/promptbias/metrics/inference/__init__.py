"""Statistical inference on the metric tables: every test, interval and correction of the tool.

- ``permutation``: the group verdicts (group labels permuted within templates, max-T);
- ``uncertainty``: intervals and p-values across runs, the bootstrap, the corrections for many tests;
- ``model_comparison``: paired tests of the gaps of two models on the same sentences;
- ``wording``: the baseline of how much wording alone moves a gap;
- ``calibration``: the test's false-alarm rate on permuted copies of the data;
- ``simulation``: studies with a known truth, to measure false alarms and power;
- ``streams``: one random stream per key, so that adding a test never moves another's draws.
"""
