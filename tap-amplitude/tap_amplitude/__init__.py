"""Singer tap for Amplitude, built with the Meltano Singer SDK."""

from tap_amplitude.sdk_import import import_sdk

# Before any module of the tap imports singer_sdk (sdk_import.py says why).
import_sdk()
