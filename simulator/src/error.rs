//! The error of the handle's mutations and of starting the simulator.

use std::net::SocketAddr;

/// Why the simulator could not start or a mutation was refused.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("account {0} is not in the fleet")]
    UnknownAccount(String),
    #[error("no secret {name} in {account}/{region}")]
    UnknownSecret {
        account: String,
        region: String,
        name: String,
    },
    #[error("{0}")]
    InvalidSecret(String),
    #[error("no Lambda function {name} in {account}/{region}")]
    UnknownLambda {
        account: String,
        region: String,
        name: String,
    },
    /// A function name Lambda refuses, or a policy that is not JSON.
    #[error("{0}")]
    InvalidLambda(String),
    /// A parameter name Parameter Store refuses, or metadata it could not hold (a key on a
    /// `String`, policies below the `Advanced` tier).
    #[error("{0}")]
    InvalidParameter(String),
    /// The fleet has no `organization`.
    #[error("the fleet has no organization")]
    NoOrganization,
    /// A change of the organization that AWS would refuse, or that names what is not there.
    #[error("{0}")]
    InvalidOrganization(String),
    /// A rotation scenario that AWS could not have produced, such as abandoning a rotation that
    /// is not in progress.
    #[error("{0}")]
    InvalidScenario(String),
}
