"""Decoders for the Bluetooth SIG health profiles: bytes in, readings out (pure, no I/O)."""
