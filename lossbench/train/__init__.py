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

from lossbench.core.lazy import lazy_exports

#: the public names, imported on first use: ``lossbench.train.tracking`` (read when a study is
#: validated) must not bring torch with it (tests/test_newcomer.py)
_EXPORTS = {
    **{name: f"lossbench.train.loop:{name}" for name in ("compute_threads", "make_optimizer", "pick_device", "seed_everything",
                                                        "train_epoch")},
    **{name: f"lossbench.train.run:{name}" for name in ("RunTraining", "TrainingContext", "train_run")},
    **{name: f"lossbench.train.stopping:{name}" for name in ("RESUME", "Stopping", "prefix_key", "read_prefix", "read_resume")},
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
