"""Pure benefits rules (no I/O): periods, eligibility, exclusivity, amounts, the ledger's hash chain."""
