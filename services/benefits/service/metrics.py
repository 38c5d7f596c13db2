"""Prometheus metrics of the benefits service (names end in _total/_seconds or are gauges; no ids)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ENTRIES_POSTED = Counter("gramsetu_benefits_entries_posted_total", "Ledger entries written", ["kind", "decision"])
POSTINGS_REJECTED = Counter("gramsetu_benefits_postings_rejected_total", "Posted entries refused", ["reason"])
POSTINGS_REPEATED = Counter("gramsetu_benefits_postings_repeated_total",
                            "Postings that named a department reference already in the ledger (no change)")
POSTING_SECONDS = Histogram("gramsetu_benefits_posting_seconds", "Time to check and write one posting call", ["mode"],
                            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
FLAGS_RAISED = Counter("gramsetu_benefits_flags_raised_total", "Flags raised for review", ["kind", "source"])
FLAGS_DECIDED = Counter("gramsetu_benefits_flags_decided_total", "Flags decided by reviewers", ["decision"])
FLAGS_OPEN = Gauge("gramsetu_benefits_flags_open", "Flags waiting for review (as of the last sweep)")
CHAIN_VERIFICATIONS = Counter("gramsetu_benefits_chain_verifications_total", "Chain verifications run", ["result"])
CHAIN_BROKEN = Gauge("gramsetu_benefits_chain_partitions_broken", "Partitions found broken by the last verification")
CHAIN_VERIFY_SECONDS = Histogram("gramsetu_benefits_chain_verify_seconds", "Duration of a chain verification",
                                 buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 900))
REGISTRY_COPY_LAST_EVENT = Gauge("gramsetu_benefits_registry_copy_last_event_timestamp_seconds",
                                 "occurred_at of the newest registry event applied to the local copy")
FILES_POSTED = Counter("gramsetu_benefits_files_total", "Posting files: received (staged), posted (every row done), "
                       "repeated (the same file again)", ["outcome"])
FILE_ROWS = Counter("gramsetu_benefits_file_rows_total", "Rows of posted files given an outcome by the file job",
                    ["outcome"])
