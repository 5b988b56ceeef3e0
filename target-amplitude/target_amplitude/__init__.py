"""target-amplitude: a Singer target that loads any stream into Amplitude."""

from target_amplitude.sdk_import import import_sdk

# Before any module of the target imports singer_sdk (sdk_import.py says why).
import_sdk()
