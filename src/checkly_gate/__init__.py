"""checkly-gate: wait for a Checkly test session and turn it into a CI verdict."""

__version__ = "0.1.0"
