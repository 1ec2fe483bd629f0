"""vlitq.models: sentence encoders and model training helpers (heavy imports are lazy)."""


def train_simcse(*args, **kwargs):
    """Unsupervised SimCSE; see :func:`vlitq.models.simcse.train_simcse`."""
    from vlitq.models.simcse import train_simcse as _train

    return _train(*args, **kwargs)


__all__ = ["train_simcse"]
