//! Typed errors. Every failure on outside data (bundles, images, thresholds) ends here, with a
//! stable code a caller can branch on and a message that names the cause.

use std::fmt;

/// Stable error codes, shared by the Rust API, the JS API (`error.code`) and the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// `manifest.json` is missing, is not JSON, or breaks the `exitwise/1` rules.
    BadManifest,
    /// A file named by the manifest is not in the bundle.
    MissingFile,
    /// A file's SHA-256 differs from the manifest's.
    BundleHashMismatch,
    /// An ONNX file could not be parsed (truncated, not ONNX, …).
    BadOnnx,
    /// A part's inputs or outputs do not fit its neighbours.
    ShapeMismatch,
    /// The graph uses an operator the backend cannot run.
    UnsupportedOp,
    /// An input tensor or image is malformed (size, NaN, range).
    BadInput,
    /// Thresholds are out of [0, 1], not finite, or of the wrong count.
    BadThreshold,
    /// A test/calibration pack or reference file is malformed.
    BadPack,
    /// The backend failed while running a part.
    Backend,
    /// JS only: the wasm instance trapped (a bug); pending calls reject with this, the models it
    /// held are gone, and the next `Model.load` starts a fresh instance.
    InstanceCrashed,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadManifest => "BAD_MANIFEST",
            ErrorCode::MissingFile => "MISSING_FILE",
            ErrorCode::BundleHashMismatch => "BUNDLE_HASH_MISMATCH",
            ErrorCode::BadOnnx => "BAD_ONNX",
            ErrorCode::ShapeMismatch => "SHAPE_MISMATCH",
            ErrorCode::UnsupportedOp => "UNSUPPORTED_OP",
            ErrorCode::BadInput => "BAD_INPUT",
            ErrorCode::BadThreshold => "BAD_THRESHOLD",
            ErrorCode::BadPack => "BAD_PACK",
            ErrorCode::Backend => "BACKEND",
            ErrorCode::InstanceCrashed => "INSTANCE_CRASHED",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An exitwise error: a stable [`ErrorCode`] and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand: `err(ErrorCode::BadInput, format!(…))`.
pub fn err<T>(code: ErrorCode, message: impl Into<String>) -> Result<T> {
    Err(Error::new(code, message))
}

/// Formats a tract error chain on one line (tract errors are `anyhow` chains).
pub(crate) fn tract_chain(e: &tract_onnx::prelude::TractError) -> String {
    e.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ")
}
