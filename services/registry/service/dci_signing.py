"""DCI message signatures: moved to ``kernel.dci_signing`` (benefits signs its DCI replies the same way)."""

from kernel.dci_signing import (
    SIGNED_HEADERS,
    ParsedSignature,
    SignatureError,
    digest,
    parse,
    private_key_from_seed,
    public_jwk,
    public_key_from_jwk,
    sign,
    signing_string,
    verify,
)

__all__ = ["SIGNED_HEADERS", "ParsedSignature", "SignatureError", "digest", "parse", "private_key_from_seed",
           "public_jwk", "public_key_from_jwk", "sign", "signing_string", "verify"]
