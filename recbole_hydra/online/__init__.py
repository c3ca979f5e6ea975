"""Serving-side use of a trained causal HydraRec.

streaming.py   per-user recurrent states: O(1) updates and recommendations (the model's own `step`)
catalogue.py   new items into a trained model and its dataset; weights carried over by token
fine_tune.py   a trained model fine-tuned on new data through a RecBole run
"""

from recbole_hydra.online.streaming import Recommendations, StreamingRecommender

__all__ = ["Recommendations", "StreamingRecommender"]
