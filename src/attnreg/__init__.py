"""attnreg: the helper package of the course *Attention and Regularization in Deep Learning*.

One module per concept; the notebooks import from here instead of copying code.
"""

from .device import get_device, set_seed

__version__ = "0.1.0"

__all__ = ["__version__", "get_device", "set_seed"]
