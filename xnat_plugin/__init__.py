"""xnat-monai: MONAI segmentation as XNAT Container Service commands (the XNAT side)."""

__version__ = "0.1.0"
