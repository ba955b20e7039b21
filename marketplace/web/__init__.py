"""HTTP: routes, handlers, templates, error rendering and security headers. Only this package knows HTTP."""
