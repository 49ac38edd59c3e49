"""MONAI bundles as XNAT holds them: layout, checksums, `xnat-monai models add|list`."""
