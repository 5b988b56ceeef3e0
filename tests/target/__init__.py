"""Tests of target-amplitude."""
