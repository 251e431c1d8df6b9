//! The device driver: talks to a BIG-IP over SSH and runs the coverage session protocol.
