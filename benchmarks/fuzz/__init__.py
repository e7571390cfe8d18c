"""Coverage-guided fuzzing of every parser that reads bytes from outside (docs/fuzzing.md).

``python -m benchmarks.fuzz`` runs each target in its own atheris (libFuzzer) process;
:mod:`benchmarks.fuzz.targets` says what each target feeds and what counts as a crash;
:mod:`benchmarks.fuzz.seeds` builds the seed corpora from the fixtures and the recordings in
``../shared/realdata``; :mod:`benchmarks.fuzz.mutate` is the small mutator the CI smoke test
(tests/test_fuzz_smoke.py) uses where atheris is not installed.
"""
