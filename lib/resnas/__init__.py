"""ResNAS: evolutionary neural architecture search on residual and sequential CNN spaces."""

__version__ = "0.1.0"

# Before anything imports torch: idle OpenMP threads sleep instead of spinning, so two torch processes on the
# same cores do not slow each other down tenfold (resnas.threads says why; a value the user set wins).
from resnas.threads import apply_env_defaults as _apply_env_defaults

_apply_env_defaults()
