//! `blocking_lines`: a source that reads a file with blocking `std::io`,
//! the way a connector wraps a blocking client library: the blocking work
//! runs in `pdk::task::spawn_blocking`, and hands each line to the async
//! side through a bounded `pdk::channel`. The plugin depends on `pdk` only.
//!
//! `thread_blocker`: the opposite, a sink that blocks the thread polling it
//! in every `on_event` (sleeping or spinning), as a connector that calls a
//! blocking library in an async method does; or, with `blocking_tasks`,
//! one that starts that many tasks with `pdk::task::spawn` which block
//! their thread, and answers its events at once.

use std::io::{BufRead, BufReader};

use pdk::channel::{bounded, Receiver};
use pdk::prelude::*;

/// The `config` table of a `blocking_lines` connector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file to read.
    path: String,
}

/// Reads a file on a blocking thread, one event per line.
#[connector(name = "blocking_lines")]
pub struct BlockingLines {
    path: String,
    lines: Option<Receiver<Vec<u8>>>,
}

impl Connector for BlockingLines {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self {
            path: config.path,
            lines: None,
        })
    }

    async fn connect(&mut self, _ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
        let file = std::fs::File::open(&self.path)?;
        // A few lines may wait: the blocking thread waits when they do.
        let (send, receive) = bounded(16);
        let path = self.path.clone();
        let reader = pdk::task::spawn_blocking(move || {
            pdk::log::info!("reading {path} on a blocking thread");
            let mut count = 0;
            for line in BufReader::new(file)
                .split(b'\n')
                .map_while(std::io::Result::ok)
            {
                if send.send_blocking(line).is_err() {
                    break;
                }
                count += 1;
            }
            pdk::log::info!("read {count} lines");
            count
        });
        // The job runs whether or not its handle is awaited: this source
        // does not need its result.
        drop(reader);
        self.lines = Some(receive);
        Ok(true)
    }
}

impl Source for BlockingLines {
    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        let Some(lines) = &self.lines else {
            return Ok(SourceReply::Finished);
        };
        // Cancel-safe: a line is either received or left in the channel.
        Ok(match lines.recv().await {
            Ok(line) => SourceReply::bytes(line),
            // The blocking job finished and dropped its sender.
            Err(_) => SourceReply::Finished,
        })
    }
}

/// The `config` table of a `thread_blocker` connector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockerConfig {
    /// How long each `on_event` blocks its thread.
    block_ms: u64,
    /// Spin instead of sleeping.
    #[serde(default)]
    spin: bool,
    /// Block in this many tasks started by `on_start`, once each, instead
    /// of in `on_event`.
    #[serde(default)]
    blocking_tasks: u32,
}

impl BlockerConfig {
    /// Blocks the calling thread for `block_ms`, sleeping or spinning.
    fn block(&self) {
        let block = std::time::Duration::from_millis(self.block_ms);
        if self.spin {
            let start = std::time::Instant::now();
            while start.elapsed() < block {
                std::hint::spin_loop();
            }
        } else {
            std::thread::sleep(block);
        }
    }
}

/// Blocks its thread in every `on_event` (or in tasks it starts), and
/// acks the event.
#[connector(name = "thread_blocker")]
pub struct ThreadBlocker {
    config: std::sync::Arc<BlockerConfig>,
}

impl Connector for ThreadBlocker {
    type Config = BlockerConfig;

    fn new(config: BlockerConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self {
            config: std::sync::Arc::new(config),
        })
    }

    async fn on_start(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        for _ in 0..self.config.blocking_tasks {
            let config = std::sync::Arc::clone(&self.config);
            pdk::task::spawn(async move { config.block() });
        }
        Ok(())
    }
}

impl Sink for ThreadBlocker {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        if self.config.blocking_tasks == 0 {
            self.config.block();
        }
        Ok(SinkReply::Ack)
    }
}

#[pdk::pdk_export]
mod plugin {
    pub use super::{BlockingLines, ThreadBlocker};
}
