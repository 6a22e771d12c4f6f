//! HTTP/1.1, sans-IO: requests and responses decoded from bytes and encoded to bytes, for
//! servers and clients.
