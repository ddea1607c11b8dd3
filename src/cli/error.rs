//! The CLI's one error type: an exit code and, unless the failure site already printed its
//! lines (diagnostics, lists), the message `cli::main` prints once as `error: …`; and the exit
//! code of a failed API call, decided here once for every command.

use crate::api::error::{ApiError, ErrorClass};
use crate::exit;

/// A failed command: the process exit code (`src/exit.rs`) and what to print on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub code: u8,
    /// Printed once as `error: {message}`; `None` when the failure site printed it already.
    pub message: Option<String>,
}

impl CliError {
    fn new(code: u8, message: impl std::fmt::Display) -> Self {
        CliError {
            code,
            message: Some(message.to_string()),
        }
    }

    /// Exit 64: a flag or argument is wrong.
    pub fn usage(message: impl std::fmt::Display) -> Self {
        Self::new(exit::USAGE, message)
    }

    /// Exit 1: a call, a read or a write failed.
    pub fn failure(message: impl std::fmt::Display) -> Self {
        Self::new(exit::FAILURE, message)
    }

    /// Exit 66: an input file does not exist or cannot be read.
    pub fn no_input(message: impl std::fmt::Display) -> Self {
        Self::new(exit::NO_INPUT, message)
    }

    /// Exit 77: credentials cannot be had, or the key lacks permission.
    pub fn credentials(message: impl std::fmt::Display) -> Self {
        Self::new(exit::CREDENTIALS, message)
    }

    /// An exit code whose lines were printed where the failure happened (or that prints none).
    pub fn reported(code: u8) -> Self {
        CliError {
            code,
            message: None,
        }
    }
}

/// The exit code for a failed call: systemic failures are about the key or permissions.
pub fn exit_code_for(e: &ApiError) -> u8 {
    if e.class() == ErrorClass::Systemic {
        exit::CREDENTIALS
    } else {
        exit::FAILURE
    }
}

/// A failed API call: systemic failures (the key, permissions) exit 77, others exit 1.
pub fn call_failed(e: &ApiError, message: impl std::fmt::Display) -> CliError {
    CliError::new(exit_code_for(e), message)
}

/// What a command returns: its exit code when it ran (0, or 2 for pending changes), else why not.
pub type CliResult = Result<u8, CliError>;
