"""Private helpers shared by the methods, metrics and command line."""
