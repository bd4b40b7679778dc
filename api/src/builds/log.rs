//! The log sink: everything a build prints, and Lectern's own lines about it, becomes
//! ordered chunks stored in PostgreSQL — batched (one INSERT per batch, never per line),
//! numbered per build, and capped: past the cap a system line says the log was truncated,
//! the rest is dropped and the build goes on. The channel to the writer is bounded, so a
//! build that floods its output is slowed down instead of filling the server's memory.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::db::enums::LogStream;
use crate::db::models::{Build, LogChunk, NewLogChunk};

/// Largest stored chunk.
const CHUNK_BYTES: usize = 64 * 1024;
/// A batch is written when it holds this much…
const BATCH_BYTES: usize = 256 * 1024;
/// …or when its oldest byte has waited this long.
const BATCH_DELAY: Duration = Duration::from_millis(100);
/// Pieces in flight between the build and the writer.
const CHANNEL_PIECES: usize = 64;

/// Where a build's output goes. Cheap to clone; the log is complete once every clone is
/// dropped and [`LogWriter::finish`] returns.
#[derive(Clone)]
pub struct LogSink {
    tx: mpsc::Sender<(LogStream, Bytes)>,
    /// Everything written goes on the hidden streams (the hidden tests' run).
    hidden: bool,
}

impl LogSink {
    /// The same log, with everything written through the copy on the hidden streams.
    pub fn hidden(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            hidden: true,
        }
    }

    /// Appends output. Waits while the writer is behind (back-pressure on floods).
    pub async fn write(&self, stream: LogStream, data: Bytes) {
        let stream = if self.hidden { stream.hidden() } else { stream };
        if !data.is_empty() {
            // The writer only stops after every sender is gone; a send cannot fail before.
            let _ = self.tx.send((stream, data)).await;
        }
    }

    /// Appends one of Lectern's own lines ("fetching abc1234", "exit code 1 after 3.2 s").
    pub async fn system(&self, line: impl Into<String>) {
        let mut line: String = line.into();
        line.push('\n');
        self.write(LogStream::System, Bytes::from(line)).await;
    }
}

/// What the writer stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogSummary {
    pub bytes: i64,
    pub truncated: bool,
    pub chunks: i32,
}

/// The task writing one build's log.
pub struct LogWriter {
    task: JoinHandle<LogSummary>,
}

impl LogWriter {
    /// Starts writing build `build_id`'s log, after whatever is stored already.
    pub async fn start(
        app: &App,
        build_id: i64,
        max_bytes: u64,
    ) -> anyhow::Result<(LogSink, LogWriter)> {
        let (next_seq, stored) = {
            let mut conn = app.db().await?;
            LogChunk::tail(&mut conn, build_id).await?
        };
        let (tx, rx) = mpsc::channel(CHANNEL_PIECES);
        let state = Batcher {
            build_id,
            max_bytes: i64::try_from(max_bytes).unwrap_or(i64::MAX),
            next_seq,
            first_seq: next_seq,
            bytes: stored,
            truncated: false,
            pending: Vec::new(),
            pending_bytes: 0,
        };
        let task = tokio::spawn(write_all(app.clone(), rx, state));
        Ok((LogSink { tx, hidden: false }, LogWriter { task }))
    }

    /// Waits until everything sent is stored. Every [`LogSink`] clone must be dropped first.
    pub async fn finish(self) -> LogSummary {
        self.task.await.unwrap_or(LogSummary {
            bytes: 0,
            truncated: false,
            chunks: 0,
        })
    }
}

/// Turns pieces of output into chunks, applying the cap.
struct Batcher {
    build_id: i64,
    max_bytes: i64,
    next_seq: i32,
    first_seq: i32,
    bytes: i64,
    truncated: bool,
    pending: Vec<NewLogChunk>,
    pending_bytes: usize,
}

impl Batcher {
    fn push(&mut self, stream: LogStream, mut data: Bytes) {
        if self.truncated {
            return;
        }
        let room = usize::try_from(self.max_bytes - self.bytes).unwrap_or(0);
        let cut = data.len() > room;
        if cut {
            data.truncate(room);
        }
        self.append(stream, &data);
        if cut {
            self.truncated = true;
            crate::metrics::get().log_truncations.inc();
            let line = format!(
                "\n[lectern] the log reached its limit of {} bytes; further output is not kept (the build goes on)\n",
                self.max_bytes
            );
            self.append(LogStream::System, line.as_bytes());
        }
    }

    fn append(&mut self, stream: LogStream, mut data: &[u8]) {
        self.bytes += i64::try_from(data.len()).unwrap_or(0);
        crate::metrics::get().log_bytes.inc_by(data.len() as u64);
        self.pending_bytes += data.len();
        while !data.is_empty() {
            let last = self
                .pending
                .last_mut()
                .filter(|c| c.stream == stream && c.data.len() < CHUNK_BYTES);
            match last {
                Some(chunk) => {
                    let take = (CHUNK_BYTES - chunk.data.len()).min(data.len());
                    chunk.data.extend_from_slice(&data[..take]);
                    data = &data[take..];
                }
                None => {
                    let take = CHUNK_BYTES.min(data.len());
                    self.pending.push(NewLogChunk {
                        build_id: self.build_id,
                        seq: self.next_seq,
                        stream,
                        data: data[..take].to_vec(),
                    });
                    self.next_seq += 1;
                    data = &data[take..];
                }
            }
        }
    }
}

async fn write_all(
    app: App,
    mut rx: mpsc::Receiver<(LogStream, Bytes)>,
    mut state: Batcher,
) -> LogSummary {
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let received = match deadline {
            Some(at) => tokio::select! {
                piece = rx.recv() => Some(piece),
                () = tokio::time::sleep_until(at) => None,
            },
            None => Some(rx.recv().await),
        };
        match received {
            Some(Some((stream, data))) => {
                state.push(stream, data);
                if state.pending_bytes >= BATCH_BYTES {
                    flush(&app, &mut state).await;
                    deadline = None;
                } else if deadline.is_none() && !state.pending.is_empty() {
                    deadline = Some(tokio::time::Instant::now() + BATCH_DELAY);
                }
            }
            Some(None) => {
                flush(&app, &mut state).await;
                return LogSummary {
                    bytes: state.bytes,
                    truncated: state.truncated,
                    chunks: state.next_seq - state.first_seq,
                };
            }
            None => {
                flush(&app, &mut state).await;
                deadline = None;
            }
        }
    }
}

/// Stores the pending chunks, retrying a failing database a few times before giving up on
/// this batch (the build goes on; the gap is said in the log).
async fn flush(app: &App, state: &mut Batcher) {
    if state.pending.is_empty() {
        return;
    }
    let chunks = std::mem::take(&mut state.pending);
    state.pending_bytes = 0;
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=5 {
        let stored = async {
            let mut conn = app.db().await?;
            LogChunk::insert_all(&mut conn, &chunks).await?;
            Build::set_log_size(&mut conn, state.build_id, state.bytes, state.truncated).await?;
            if let (Some(first), Some(last)) = (chunks.first(), chunks.last()) {
                crate::live::announce_log(&mut conn, state.build_id, first.seq, last.seq).await?;
            }
            Ok::<_, crate::error::AppError>(())
        }
        .await;
        match stored {
            Ok(()) => return,
            Err(err) if attempt < 5 => {
                tracing::warn!(build = state.build_id, error = %err, attempt, "could not store log output; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(err) => {
                tracing::error!(build = state.build_id, error = %err, chunks = chunks.len(), "dropped log output the database would not take");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batcher(max: i64) -> Batcher {
        Batcher {
            build_id: 1,
            max_bytes: max,
            next_seq: 0,
            first_seq: 0,
            bytes: 0,
            truncated: false,
            pending: Vec::new(),
            pending_bytes: 0,
        }
    }

    #[test]
    fn pieces_of_one_stream_share_a_chunk_and_streams_alternate_in_order() {
        let mut b = batcher(1 << 20);
        b.push(LogStream::Stdout, Bytes::from_static(b"a\n"));
        b.push(LogStream::Stdout, Bytes::from_static(b"b\n"));
        b.push(LogStream::Stderr, Bytes::from_static(b"oops\n"));
        b.push(LogStream::Stdout, Bytes::from_static(b"c\n"));
        let got: Vec<(i32, LogStream, &[u8])> = b
            .pending
            .iter()
            .map(|c| (c.seq, c.stream, c.data.as_slice()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, LogStream::Stdout, &b"a\nb\n"[..]),
                (1, LogStream::Stderr, &b"oops\n"[..]),
                (2, LogStream::Stdout, &b"c\n"[..]),
            ]
        );
    }

    #[test]
    fn a_long_line_is_split_into_bounded_chunks() {
        let mut b = batcher(1 << 30);
        b.push(
            LogStream::Stdout,
            Bytes::from(vec![b'x'; CHUNK_BYTES * 2 + 10]),
        );
        let sizes: Vec<usize> = b.pending.iter().map(|c| c.data.len()).collect();
        assert_eq!(sizes, vec![CHUNK_BYTES, CHUNK_BYTES, 10]);
        assert_eq!(b.bytes, i64::try_from(CHUNK_BYTES * 2 + 10).unwrap_or(0));
    }

    #[test]
    fn past_the_cap_output_is_dropped_after_one_system_line() {
        let mut b = batcher(10);
        b.push(LogStream::Stdout, Bytes::from_static(b"0123456"));
        b.push(LogStream::Stdout, Bytes::from_static(b"789abcdef"));
        b.push(LogStream::Stdout, Bytes::from_static(b"more"));
        assert!(b.truncated);
        assert_eq!(b.pending[0].data, b"0123456789");
        assert_eq!(b.pending.len(), 2);
        assert_eq!(b.pending[1].stream, LogStream::System);
        assert!(String::from_utf8_lossy(&b.pending[1].data).contains("limit of 10 bytes"));
    }
}
