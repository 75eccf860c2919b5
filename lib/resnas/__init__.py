"""ResNAS: evolutionary neural architecture search on residual and sequential CNN spaces."""

__version__ = "0.1.0"
