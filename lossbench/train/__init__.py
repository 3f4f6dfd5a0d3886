"""Training: a run's configuration and batches in, its checkpoint and training record out.

- :mod:`~lossbench.train.run`: one run from its first epoch to ``checkpoint.pt`` and ``trained.json``
  (:func:`train_run`, :class:`RunTraining`);
- :mod:`~lossbench.train.loop`: seeding, the device, the optimizer, one epoch;
- :mod:`~lossbench.train.stopping`: early stopping, the resume file, shared first phases;
- :mod:`~lossbench.train.vectorised`: K seeds of one condition trained as one stacked model;
- :mod:`~lossbench.train.balance`: which loss term dominates the gradients;
- :mod:`~lossbench.train.tracking`: TensorBoard and MLflow.

Training imports nothing from scoring, the report or the study runner (tests/test_architecture.py).
"""

from lossbench.train.loop import compute_threads, make_optimizer, pick_device, seed_everything, train_epoch
from lossbench.train.run import RunTraining, TrainingContext, train_run
from lossbench.train.stopping import RESUME, Stopping, prefix_key, read_prefix, read_resume

__all__ = ["RESUME", "RunTraining", "Stopping", "TrainingContext", "compute_threads", "make_optimizer", "pick_device",
           "prefix_key", "read_prefix", "read_resume", "seed_everything", "train_epoch", "train_run"]
