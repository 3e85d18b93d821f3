//! Training imports: the domain (pure rules), CSV reading, the DynamoDB/S3 store and the
//! pipelines the Lambda functions call. Function crates stay thin and call into here.
//!
//! Layers, from pure to effectful:
//! - [`domain`]: types, normalising, matching and outcome rules. No I/O, no AWS types.
//! - [`csv_input`]: decoding and reading CSV bytes into header-mapped records. No I/O.
//! - [`store`]: every DynamoDB and S3 call, and the conversions to and from items.
//! - [`pipeline`]: validate, commit, sign-up apply, deletes: store + domain together.

pub mod aws;
pub mod csv_input;
pub mod domain;
pub mod keys;
pub mod pipeline;
pub mod store;
pub mod telemetry;
