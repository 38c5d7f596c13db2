"""Benefits: Schemes, the benefit ledger of every service a person received, and duplicate-benefit detection."""

SERVICE = "benefits"
