"""vlitq.models."""
