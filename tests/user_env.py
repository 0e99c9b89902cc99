"""The environment a user's shell has, for tests that run a command as a user would.

conftest gives in-process tests the reference backend when GRAPHC_BACKEND is unset; a command
run as a user gets the user's default (the cpu backend) unless the suite was asked for another.
"""
import os

_SET_BY_SUITE = False


def default_suite_backend() -> None:
    global _SET_BY_SUITE
    if not os.environ.get("GRAPHC_BACKEND"):
        os.environ["GRAPHC_BACKEND"] = "reference"
        _SET_BY_SUITE = True


def user_env(**extra) -> dict:
    env = dict(os.environ, **extra)
    if _SET_BY_SUITE:
        env.pop("GRAPHC_BACKEND", None)
    return env
