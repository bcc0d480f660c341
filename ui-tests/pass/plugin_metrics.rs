//! A sink that counts what matters to its author: a counter per event, a
//! gauge of what it holds and a histogram of its batch sizes, registered
//! once in `new`; `main` asserts on them through the test harness.
use pdk::metrics::{Counter, Gauge, Histogram};
use pdk::prelude::*;
use pdk::testing::{block_on, Harness};

#[connector(name = "batcher")]
pub struct Batcher {
    held: Vec<Event>,
    rows: Counter,
    pending: Gauge,
    batch_rows: Histogram,
}

impl Connector for Batcher {
    type Config = NoConfig;

    fn new(_config: NoConfig, ctx: &ConnectorContext) -> Result<Self> {
        let metrics = ctx.metrics();
        Ok(Self {
            held: Vec::new(),
            rows: metrics.counter("rows_inserted", "Rows committed to the table")?,
            pending: metrics.gauge("rows_pending", "Rows waiting for the next commit")?,
            batch_rows: metrics.histogram(
                "batch_rows",
                "Rows per commit",
                &[1.0, 10.0, 100.0, 1000.0],
            )?,
        })
    }
}

impl Sink for Batcher {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        self.held.push(event);
        self.pending.inc();
        if self.held.len() == 3 {
            // The commit would go here.
            self.batch_rows.observe(self.held.len() as f64);
            self.rows.inc_by(self.held.len() as u64);
            self.pending.set(0.0);
            self.held.clear();
        }
        Ok(SinkReply::Ack)
    }
}

#[pdk_export]
mod plugin {
    pub use super::Batcher;
}

fn main() {
    let mut sink = Harness::<Batcher>::from_json("{}").unwrap();
    for n in 0..7 {
        block_on(sink.send(n)).unwrap();
    }
    assert_eq!(sink.counter("rows_inserted"), Some(6));
    assert_eq!(sink.gauge("rows_pending"), Some(1.0));
    let batches = sink.histogram("batch_rows").unwrap();
    assert_eq!((batches.count, batches.sum), (2, 6.0));
}
