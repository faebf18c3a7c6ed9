"""pytest settings shared by the unit tests and nbval.

nbval's kernels inherit this process's environment, so setting it here makes every way of running
nbval (`make test`, or pytest called directly) use the settings that `make execute` stored the
outputs with: no progress bars, one thread per kernel.
"""

import os

os.environ.setdefault("ATTNREG_QUIET", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
