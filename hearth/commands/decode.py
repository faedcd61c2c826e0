"""`hearth decode`: what a Bluetooth health device's payload says, for a person debugging it."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--characteristic", "-c", required=True,
              help="The characteristic's UUID: 0x2A35, 2a35 or the full 128-bit form.")
@click.option("--hex", "hex_payload", required=True,
              help="The payload as hexadecimal (spaces and colons allowed).")
def decode(characteristic: str, hex_payload: str) -> None:
    """Decode one GATT payload (Bluetooth SIG health profiles) and print it as JSON."""
    from gateway.ble.decoders import decode as decode_payload
    from gateway.ble.decoders import parse_uuid
    from gateway.ble.errors import DecodeError

    cleaned = "".join(hex_payload.replace(":", " ").replace("-", " ").split())
    try:
        payload = bytes.fromhex(cleaned)
    except ValueError:
        raise click.BadParameter("not hexadecimal bytes (e.g. 1E8A00...)",
                                 param_hint="--hex") from None
    try:
        decoded = decode_payload(parse_uuid(characteristic), payload)
    except DecodeError as exc:
        raise click.ClickException(f"cannot decode this payload: {exc}") from None
    click.echo(json.dumps(decoded.as_json(), indent=2, ensure_ascii=False))
