"""vlitq.select."""
