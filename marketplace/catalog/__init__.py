"""The catalog: resources loaded from `content/`, stored in the database, searched through Whoosh.

This package imports nothing from `lti/` or `web/`.
"""
