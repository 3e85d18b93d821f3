//! The integration tests, one test binary (one link of the AWS SDK instead of one per
//! file), a module per subject. They run against DynamoDB Local, the local S3 server and
//! a local Cognito calling the real triggers (`scripts/test` starts what they need); the
//! shared harness is the `suite` library (`tests/support/`).

mod api_contract;
mod docs;
mod dynamodb_faults;
mod fuzz_reader;
mod hostile_inputs;
mod identity;
mod import_flow;
mod invariants;
mod spreadsheet_corpus;
mod template;
mod writes;
