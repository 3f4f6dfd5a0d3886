"""Scoring: reads a trained run folder (its checkpoint and training record) and writes its
metrics.json. Training stops at the checkpoint and imports nothing from here; the executor calls
train, then score (as pytorch/examples' vae ``main`` calls ``train()`` then ``test()``), and
``lossbench score`` calls score alone on finished runs."""

from lossbench.score.run import complete_metrics, evaluate_run, health_flags, load_model, score_run, trained_record

__all__ = ["complete_metrics", "evaluate_run", "health_flags", "load_model", "score_run", "trained_record"]
