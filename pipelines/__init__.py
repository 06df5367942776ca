"""ScanSense: a batch analytics warehouse for port-scan sensing."""

__version__ = "0.1.0"
