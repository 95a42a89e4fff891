"""onair: runs FastPix live streams on schedule, unattended."""

__version__ = "0.1.0"
