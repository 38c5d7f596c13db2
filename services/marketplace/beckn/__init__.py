"""The Beckn BPP: open-network buyer apps (BAPs) find and book workers (Beckn core 1.1 shapes,
ONDC services vocabulary).  Requests are verified, callbacks signed (BECKN-006: Ed25519 over a
BLAKE2b-512 digest); every request ACKed is answered by one ``on_<action>`` callback, and every
fulfillment state change of a Beckn booking by an unsolicited ``on_status``."""
