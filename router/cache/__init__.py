"""Response caches: exact (fingerprint of the whole request) and semantic (embedding neighbours)."""
