"""operator-argo: the Ocean Compute-to-Data operator, rebuilt on Argo Workflows."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("operator-argo")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
