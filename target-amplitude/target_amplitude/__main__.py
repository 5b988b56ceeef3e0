"""`python -m target_amplitude`: the same command line as the `target-amplitude` executable."""

from target_amplitude.target import TargetAmplitude

TargetAmplitude.cli()
