//! The neutral value model of remote procedure calls, shared by the RPC codecs.
