"""Singer tap for Amplitude, built with the Meltano Singer SDK."""
