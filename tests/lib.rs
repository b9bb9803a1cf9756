//! Shared helpers for the swarm tests.
