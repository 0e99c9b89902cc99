import os
import sys

from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))  # tests/strategies.py and helpers import plainly

# CI machines are shared and slow: no deadlines; a bounded number of examples per property.
# Derandomized: a run's examples follow from the tests' source, so a red run can be rerun as it
# was (a counterexample found by a random run goes into the issue that fixes it);
# HYPOTHESIS_PROFILE=explore draws new examples every run.
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# The suite compiles thousands of small graphs (hypothesis draws a new one per example): on the
# NumPy reference, unless GRAPHC_BACKEND names another backend. The cpu backend, which users get
# by default, is tested by the tests that name it (tests/backend/test_cpu*.py run every op and
# model on it, against this reference) and by the examples, which run as a user runs them.
# `GRAPHC_BACKEND=cpu make test ALL=1` runs the whole suite on it.
import user_env  # noqa: E402

# The suite's many small compiles run on every core already: no helper process compiles beside
# them (graphc/backend/numba/jobs.py; tests/backend/test_cpu_jobs.py turns it back on).
os.environ.setdefault("GRAPHC_COMPILE_JOBS", "1")

user_env.default_suite_backend()
