//! Integration tests: the real mongossl binary, real TLS with certificates
//! made at test time, and plaintext backends standing in for mongod.

mod cases;
mod harness;
