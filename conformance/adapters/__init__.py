"""Adapters that put a client behind the conformance protocol (conformance.protocol)."""
