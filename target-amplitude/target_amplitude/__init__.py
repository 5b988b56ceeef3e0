"""target-amplitude: a Singer target that loads any stream into Amplitude."""
