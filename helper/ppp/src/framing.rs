//! Async HDLC-like framing (RFC 1662).
