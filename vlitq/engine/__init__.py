"""vlitq.engine."""
