"""Settings for soft prompts on tiny randomly initialised models, whose prompts never learn: the failure rule
would restart each twice and mark it failed. Tests of the study's mechanics tune once (no restarts) and keep
failed runs in the verdicts; tests/test_failure_rule.py tests the rule itself."""

RANDOM_MODEL = {"max_restarts": 0}
