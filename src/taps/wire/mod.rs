//! Reading the MongoDB messages of a relayed stream, for the taps: cutting
//! each direction into messages as the bytes pass (`framing`), decoding a
//! message's header and first documents (`messages`, for the audit), and a
//! cheaper look at a command's name or a reply's `ok` (`glance`, for the
//! command metrics).

pub mod framing;
pub mod glance;
pub mod messages;
