//! The stylesheet and the script, compiled into the binary: the page loads nothing from
//! elsewhere.

/// One static file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asset {
    /// The route.
    pub(crate) path: &'static str,
    /// The `Content-Type`.
    pub(crate) content_type: &'static str,
    /// The file.
    pub(crate) body: &'static str,
    /// A hash of the file, put in its URL: browsers cache assets for a year, so a new version
    /// must have a new URL.
    tag: u64,
}

impl Asset {
    const fn new(path: &'static str, content_type: &'static str, body: &'static str) -> Asset {
        Asset {
            path,
            content_type,
            body,
            tag: fnv1a(body.as_bytes()),
        }
    }

    /// The URL pages link to.
    pub(crate) fn url(&self) -> String {
        format!("{}?v={:016x}", self.path, self.tag)
    }
}

/// The stylesheet.
pub(crate) const CSS: Asset = Asset::new(
    "/assets/app.css",
    "text/css; charset=utf-8",
    include_str!("../assets/app.css"),
);

/// The script that adds Copy buttons; the page is complete without it.
pub(crate) const JS: Asset = Asset::new(
    "/assets/app.js",
    "text/javascript; charset=utf-8",
    include_str!("../assets/app.js"),
);

/// 64-bit FNV-1a: a content tag computed at compile time, not a security measure.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}
