//! Persistence (`--state FILE`): the whole `State` plus the token-signing key as one JSON
//! snapshot, written atomically (temp file, fsync, rename, fsync dir) after every acknowledged
//! write and *before* the response is sent, so a crash never loses an acknowledged write.
//!
//! Why the key too: tokens minted before a restart must still validate after it, as Azure's do.

use crate::model::State;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// I/O failure.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Another emulator process holds the state file.
    #[error("state file {path} is in use by another emulator process (a `keyless --emulator` run or `keyless emulator --state` on the same file)")]
    InUse {
        /// The file.
        path: String,
    },
    /// The file is not a snapshot this emulator understands.
    #[error("state file {path}: not a valid snapshot: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Exclusive use of a state file by one emulator process.
///
/// Why: two emulators on one state file would each load it, then overwrite each other's
/// snapshots — the writes acknowledged by the one that saved first would be lost. The lock is
/// an OS file lock on a sidecar file (`<state>.lock`; the state file itself is replaced by
/// rename on every save), so it is released however the process ends, SIGKILL included.
#[derive(Debug)]
pub struct StateLock {
    _file: std::fs::File,
}

impl StateLock {
    /// Takes the lock of `state`, or fails at once with [`PersistError::InUse`].
    pub fn acquire(state: &Path) -> Result<StateLock, PersistError> {
        let mut name = state.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let io = |source| PersistError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(StateLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(PersistError::InUse {
                path: state.display().to_string(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

/// What is on disk.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Format version (1).
    pub version: u32,
    /// PKCS#8 PEM of the token-signing key.
    pub signing_key: String,
    /// The emulated world.
    pub state: State,
}

/// Writes snapshots for one state file.
#[derive(Debug)]
pub struct Persister {
    path: PathBuf,
    next_seq: AtomicU64,
    written: Mutex<u64>,
    /// Held for as long as this writer exists.
    _lock: StateLock,
}

impl Persister {
    /// A writer for `path`, holding its lock (nothing is written until [`Persister::write`]).
    pub fn new(path: &Path, lock: StateLock) -> Persister {
        Persister {
            path: path.to_path_buf(),
            next_seq: AtomicU64::new(1),
            written: Mutex::new(0),
            _lock: lock,
        }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the snapshot at `path`, `None` when the file does not exist.
    pub fn load(path: &Path) -> Result<Option<Snapshot>, PersistError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(PersistError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        let snap: Snapshot = serde_json::from_slice(&text).map_err(|e| PersistError::Format {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        if snap.version != 1 {
            return Err(PersistError::Format {
                path: path.display().to_string(),
                message: format!("unsupported version {}", snap.version),
            });
        }
        Ok(Some(snap))
    }

    /// Serialises a snapshot; call with the state lock held so sequence numbers follow the
    /// order of state changes. Returns `(sequence, bytes)` for [`Persister::write`].
    pub fn encode(&self, state: &State, signing_key: &str) -> (u64, Vec<u8>) {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Ref<'a> {
            version: u32,
            signing_key: &'a str,
            state: &'a State,
        }
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let bytes = serde_json::to_vec(&Ref {
            version: 1,
            signing_key,
            state,
        })
        .unwrap_or_default();
        (seq, bytes)
    }

    /// Writes an encoded snapshot atomically, unless a newer one was already written.
    pub fn write(&self, seq: u64, bytes: &[u8]) -> Result<(), PersistError> {
        let mut written = self.written.lock();
        if seq <= *written {
            return Ok(());
        }
        let io = |source| PersistError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp).map_err(io)?;
            f.write_all(bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        *written = seq;
        Ok(())
    }

    /// Removes the state file (admin reset: the next start seeds from the world again).
    pub fn wipe(&self) -> Result<(), PersistError> {
        let _guard = self.written.lock();
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(PersistError::Io {
                path: self.path.display().to_string(),
                source,
            }),
        }
    }
}
