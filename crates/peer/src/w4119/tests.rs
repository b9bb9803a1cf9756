//! Unit tests of the W4119 node.
