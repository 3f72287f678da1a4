//! The `tidings` server: configuration, TLS, listeners, start-up and
//! shutdown, and the administration commands. The binary (`main.rs`) is
//! only the command line over this library.
//!
//! Modules: [`config`] (the TOML file and resolved [`config::Settings`]),
//! [`tls`] (certificates, the rustls acceptor), [`serve`] (binds the
//! listeners of `tidings-net` that protocols plug into), [`init`]
//! (config, DKIM key and DNS records for a new domain), [`deliver`] (the local delivery agent), [`admin`] (`user`,
//! `domain`, `alias`, `check`), [`transfer`] (`import` and `export`).
//!
//! This crate only wires things together: it holds no mail state (the store
//! does) and speaks no mail protocol (the protocol crates do).

#![forbid(unsafe_code)]

pub mod acme;
pub mod admin;
pub mod config;
pub mod deliver;
pub mod init;
pub mod privileges;
pub mod serve;
pub mod tls;
pub mod transfer;
