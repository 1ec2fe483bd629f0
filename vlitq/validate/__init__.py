"""vlitq.validate."""
