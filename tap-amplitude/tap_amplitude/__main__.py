"""`python -m tap_amplitude`: the same command line as the `tap-amplitude` executable."""

from tap_amplitude.tap import TapAmplitude

TapAmplitude.cli()
