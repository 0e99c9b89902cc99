"""The Numba CPU backend: prints a Program (graphc/lower) as Python source for numba.njit.

Numba is imported only when a cpu function is first compiled, so `import graphc` stays fast.
"""
