"""Graph algorithms used by the indicators (Ego-Splitting overlapping clustering)."""
from vlitq.graph.egosplit import EgoSplitResult, ego_splitting

__all__ = ["EgoSplitResult", "ego_splitting"]
