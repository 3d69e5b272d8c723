//! exitwise-fuzz: structure-aware fuzzing of bundle loading on stable Rust (no cargo-fuzz).
//!
//! Three targets, each starting from the real bundles of `models/`:
//! - `manifest`: `manifest.json` mutated structurally (keys and entries deleted or duplicated,
//!   numbers at their edges, odd names, types swapped, nodes spliced), the real files kept;
//! - `pack`: `testpack.bin` / `calibpack.bin` header fields at edge values, truncated, extended,
//!   re-sized; parsed directly and loaded in their bundle with the hash fixed;
//! - `onnx`: a real part decoded as a `ModelProto`, mutated (attributes, dims, initializers,
//!   op types, wiring, opsets, domains), re-encoded, its hash fixed, loaded, prepared and run.
//!
//! Case *i* of a target under seed *s* is a pure function of (s, target, i) and the base
//! bundles, so a run resumes at any index and any finding regenerates. A worker process runs
//! the cases under `catch_unwind`, the supervisor enforces a time limit per execution and the
//! worker's counting allocator a cap on live bytes (`supervise`).

pub mod alloc;
pub mod case;
pub mod exec;
pub mod json;
pub mod manifest;
pub mod onnx;
pub mod pack;
pub mod rng;
pub mod supervise;
pub mod trace;
pub mod worker;
