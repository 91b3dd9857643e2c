"""swsctl: the command-line client a user runs on a laptop to drive a remote SWS host."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sws")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
