"""LTI Marketplace: an LTI 1.3 tool for picking open educational resources into an LMS course."""

__version__ = "0.1.0"
