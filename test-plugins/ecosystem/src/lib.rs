//! Connectors written on the tokio ecosystem, the way the book's network
//! chapter tells authors to: `pdk`'s `tokio` feature, then ordinary tokio
//! and reqwest code.
//!
//! - `tokio_tcp` (sink): connects with `tokio::net::TcpStream`, writes one
//!   line per event, and acknowledges each event from a task started with
//!   `tokio::spawn` after a `tokio::time::sleep`; a task watches the
//!   connection and reports it lost when the server closes it.
//! - `reqwest_post` (sink): POSTs each event to `url` with reqwest.
//! - `tokio_ticker` (source): one event per tick of a `tokio::time::Interval`.

mod reqwest_post;
mod tokio_tcp;
mod tokio_ticker;

pub use reqwest_post::ReqwestPost;
pub use tokio_tcp::TokioTcp;
pub use tokio_ticker::TokioTicker;

#[pdk::pdk_export]
mod plugin {
    pub use super::{ReqwestPost, TokioTcp, TokioTicker};
}
