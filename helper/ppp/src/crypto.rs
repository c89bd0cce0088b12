//! CHAP-MD5 (RFC 1994) and MS-CHAPv2 (RFC 2759) digests.
