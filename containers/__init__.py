"""Code that runs inside the xnat-monai images: imaging I/O, bundles, metrics, the three steps."""
