"""The probabilistic person matcher: pure functions and arrays, no I/O.

``names`` turns a name in Bengali, Devanagari or Latin script into Latin comparison forms,
``table`` builds the columnar record table, ``blocking`` proposes candidate pairs, ``compare``
gives every pair its agreement levels, ``fellegi_sunter`` learns m/u by EM and scores pairs,
``cluster`` groups pairs into persons, and ``engine`` ties them together (batch and incremental).
See docs/matching.md.
"""
