"""The train step (`python -m containers.train`), one idea per module:

- `archive_source` / `xnat_source`: find image/reference pairs (mounted archive or REST);
- `cases`: read them into `TrainingCase`s and agree on label names across sessions;
- `folds`: subject-level k-fold split;
- `data_plan`: spacing and CT window from the data, and the model-grid conversion;
- `transforms`: cached deterministic part + patch sampling and augmentation;
- `trainer`: `SegmentationTrainer` with overridable hooks, one fold per `train_fold`;
- `checkpoints`: resumable checkpoints in MONAI_CHECKPOINTS and/or a local folder;
- `distributed`: one process or DDP under torchrun;
- `report` / `bundle_output`: the report and the bundle, written whole or not at all.
"""
