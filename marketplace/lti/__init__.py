"""LTI 1.3: registrations and keys, OIDC login, launch validation into a LaunchContext, configuration.

Only `adapter.py` imports Starlette; everything else is framework-free.
"""
