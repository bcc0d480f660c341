//! Deterministic, realistic ~1 KB log records for the benchmarks: nested
//! objects and arrays, strings, integers, floats, booleans and nulls.

use std::fmt::Write as _;

/// A small deterministic generator (64-bit LCG), so every run and every
/// machine gets the same records without a `rand` dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[usize::try_from(self.next()).unwrap_or(0) % items.len()]
    }
}

/// Record `i` of the benchmark data set, as one line of JSON (~1 KB).
#[must_use]
pub fn record(i: u64) -> String {
    let mut rng = Lcg(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03);
    let level = rng.pick(&["debug", "info", "info", "info", "warn", "error"]);
    let service = rng.pick(&["checkout", "search", "auth", "inventory", "gateway"]);
    let method = rng.pick(&["GET", "POST", "PUT", "DELETE"]);
    let status =
        [200, 200, 200, 201, 204, 301, 404, 500][usize::try_from(rng.next() % 8).unwrap_or(0)];
    let mut words = String::new();
    for _ in 0..24 {
        let word = rng.pick(&[
            "request", "served", "cache", "miss", "upstream", "retry", "timeout", "user",
            "session", "token",
        ]);
        let _ = write!(words, "{word} ");
    }
    let record = serde_json::json!({
        "timestamp": 1_700_000_000_000_u64 + i * 17,
        "level": level,
        "service": service,
        "host": format!("{service}-{}.prod.internal", rng.next() % 64),
        "message": words.trim_end(),
        "http": {
            "method": method,
            "path": format!("/api/v2/{service}/items/{}", rng.next() % 100_000),
            "status": status,
            "latency_ms": (rng.next() % 100_000) as f64 / 100.0,
            "bytes_sent": rng.next() % 1_000_000,
            "headers": {
                "user-agent": "Mozilla/5.0 (X11; Linux x86_64) pdk-bench/1.0",
                "accept": "application/json",
                "x-request-id": format!("{:016x}", rng.next() * rng.next()),
                "x-forwarded-for": format!("10.{}.{}.{}", rng.next() % 256, rng.next() % 256, rng.next() % 256),
            },
        },
        "user": {
            "id": rng.next() % 1_000_000,
            "name": format!("user{}", rng.next() % 10_000),
            "roles": ["reader", rng.pick(&["writer", "admin", "auditor"])],
            "verified": rng.next() % 2 == 0,
        },
        "trace": { "trace_id": format!("{:032x}", u128::from(rng.next()) << 64 | u128::from(rng.next())), "span_id": format!("{:016x}", rng.next()), "sampled": true },
        "metrics": { "cpu": (rng.next() % 10_000) as f64 / 100.0, "mem_mb": rng.next() % 16_384, "gc_pauses": [rng.next() % 50, rng.next() % 50, rng.next() % 50] },
        "tags": ["prod", service, level, format!("shard-{}", rng.next() % 16)],
        "error": if level == "error" { serde_json::json!({ "kind": "UpstreamTimeout", "retries": rng.next() % 5 }) } else { serde_json::Value::Null },
    });
    record.to_string()
}
