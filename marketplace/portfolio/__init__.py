"""Student portfolios: files, links and notes a student owns and can submit as homework."""
