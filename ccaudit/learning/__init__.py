"""Learning progress and follow-up module eligibility (R4, R7).

``client`` is the platform's side (no store, no service code); ``catalogue``, ``rules`` and
``evaluate`` are pure; ``eligibility``, ``waivers``, ``bulk`` and ``stats`` read the store for the
service. Nothing is re-exported here, so that a platform importing the client loads nothing else.
"""
