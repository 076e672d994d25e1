use std::alloc::LayoutError;

/// Errors of `jdb_alloc`.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error (kept for the design's API; allocation itself never produces it).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),

    /// The requested size cannot be laid out (e.g. larger than `isize::MAX` once rounded up).
    #[error("invalid layout: {0}")]
    InvalidLayout(#[from] LayoutError),

    /// The allocator returned null: out of memory for the requested size.
    #[error("alloc failed")]
    AllocFailed,

    /// A write would need `.0` bytes but the buffer's capacity is `.1`.
    #[error("overflow: {0}/{1}")]
    Overflow(usize, usize),

    /// Anything else, with a message.
    #[error("{0}")]
    Other(Box<str>),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
