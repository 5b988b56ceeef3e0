"""Tests of tap-amplitude."""
