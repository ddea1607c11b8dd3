//! Writes a large, valid CSV manifest for the `validate` benchmark (see BENCHMARKS.md).
//!
//! `cargo run --release --example gen_csv -- ROWS OUT.csv` — deterministic: the same ROWS give the
//! same bytes. Rows mix the shapes a real migration has: a callback move on every row, end-time
//! extensions, and url/vod playlists with several sources.

use std::io::{BufWriter, Write};

const REGIONS: [&str; 4] = [
    "cn-shanghai",
    "cn-beijing",
    "ap-southeast-1",
    "ap-southeast-5",
];

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let out = args.next().unwrap_or_else(|| "big.csv".to_string());
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&out)?);
    writeln!(
        w,
        "TaskId,Region,StartTime,EndTime,SourceType,SourceUrls,RepeatNumber,FileIndex,CallbackUrl,x-owner"
    )?;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..rows {
        // xorshift: cheap, deterministic variety.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let region = REGIONS[(x % 4) as usize];
        let day = 1 + (x >> 8) % 20;
        let hour = (x >> 16) % 24;
        write!(
            w,
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x},{region},",
            i,
            (x >> 20) & 0xffff,
            (x >> 36) & 0xfff,
            (x >> 48) & 0xfff,
            x & 0xffff_ffff_ffff
        )?;
        match x % 10 {
            0..=5 => write!(w, ",2027-12-{day:02}T{hour:02}:00:00Z,,,,,")?,
            6 | 7 => write!(
                w,
                "2027-12-{day:02}T{hour:02}:00:00Z,2027-12-{:02}T{hour:02}:00:00Z,url,https://media.example.com/v/{i}/a.mp4|https://media.example.com/v/{i}/b.flv,-1,1,",
                day + 2
            )?,
            _ => write!(w, ",,vod,\"[\"\"{i:08x}aa\"\",\"\"{i:08x}bb\"\"]\",3,0,")?,
        }
        writeln!(
            w,
            "https://hooks.new-webhooks.example.com/live/pull-to-push,team-{}",
            x % 7
        )?;
    }
    w.flush()
}
