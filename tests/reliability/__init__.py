"""Reliability suite (issue 6): fault matrices, crash-resume, bad input and secrets."""
