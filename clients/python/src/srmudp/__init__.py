"""srmudp: Secure Reliable Multi UDP for Python.

Speaks the srmudp wire protocol (docs/architecture/wire-format.md in the repository): Noise IK/XX
handshakes authenticated by Ed25519 peer ids, ChaCha20-Poly1305 transport with a replay window
and rekeying, reliable ordered streams and whole messages with SACK loss recovery and NewReno.

    node = await srmudp.create_node(identity="alice.key", port=0)
    node.peers.add({"bob": bob_card})
    await node.send(b"hello", to=["bob"])
    msg = await node.receive(timeout=5)
    stream = await node.connection("bob").open_stream()
"""

from .cards import ContactCard, RendezvousError, encode_card, parse_card
from .errors import KeyFileError, SrmudpError, WireDecodeError
from .identity import Identity, parse_peer_id, peer_id_to_string, peer_identity_hex, same_peer
from .keyfile import load_identity, load_or_create_identity, save_identity
from .node import Node, PeerConnection, ReceivedMessage, create_node
from .streams import SrmudpStream, SrmudpStreamWriter

__version__ = "0.1.0"

__all__ = [
    "ContactCard",
    "Identity",
    "KeyFileError",
    "Node",
    "PeerConnection",
    "ReceivedMessage",
    "RendezvousError",
    "SrmudpError",
    "SrmudpStream",
    "SrmudpStreamWriter",
    "WireDecodeError",
    "create_node",
    "encode_card",
    "load_identity",
    "load_or_create_identity",
    "parse_card",
    "parse_peer_id",
    "peer_id_to_string",
    "peer_identity_hex",
    "same_peer",
    "save_identity",
]
