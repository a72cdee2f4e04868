"""Tenants: virtual API keys, budgets with atomic reservations, and rate limits."""
