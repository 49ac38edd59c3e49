"""The detection step: lesions found as scored boxes, evaluated against reference lesions."""
