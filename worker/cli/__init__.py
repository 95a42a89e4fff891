"""The `onair` command line."""
